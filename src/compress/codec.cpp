// The portable codec and the dispatch between it and the AVX2/F16C one (codec_x86.hpp). Both
// follow the same sequence of f32 operations per element, which is what makes their bits equal:
//   bf16 / fp16   v = in + residual; e = round-to-nearest-even(v); residual = v - widen(e)
//   int8 block    v = in + residual; m = max |v|; scale = m / 127; inv = 127 / m;
//                 q = clamp(nearbyint(v * inv), -127, 127); residual = v - q * scale
// with two exceptions that keep a residual finite: wherever the decoded value is not finite
// (fp16 overflow, an Inf or NaN input) the residual becomes 0, and a block whose largest
// magnitude is below kTinyBlock is sent as zeros (scale 0) and kept whole in the residual.

#include "compress/codec.hpp"
#include "compress/codec_internal.hpp"
#include "compress/codec_portable.hpp"

#include "reduce/reduce.hpp"
#include "reduce/reduce_internal.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define BANYAN_CODEC_HAVE_SIMD 1
#include "compress/codec_x86.hpp"
#else
#define BANYAN_CODEC_HAVE_SIMD 0
#endif

namespace banyan::compress {
namespace {

using detail::CodecPath;

struct Codec {
  void (*encode)(const float* in, float* residual, void* out, std::size_t count) noexcept;
  void (*decode)(const void* in, float* out, std::size_t count) noexcept;
};

// Indexed by CompressionFormat; none has no codec.
constexpr Codec kPortable[] = {
    {nullptr, nullptr},
    {&portable::encodeBfloat16, &portable::decodeBfloat16},
    {&portable::encodeHalf, &portable::decodeHalf},
    {&portable::encodeInt8, &portable::decodeInt8},
};

#if BANYAN_CODEC_HAVE_SIMD
constexpr Codec kSimd[] = {
    {nullptr, nullptr},
    {&simd::encodeBfloat16, &simd::decodeBfloat16},
    {&simd::encodeHalf, &simd::decodeHalf},
    {&simd::encodeInt8, &simd::decodeInt8},
};
#endif

bool lossy(CompressionFormat format) noexcept {
  return format == CompressionFormat::bf16 || format == CompressionFormat::fp16 || format == CompressionFormat::int8;
}

const Codec* codecFor(CodecPath path, CompressionFormat format) noexcept {
  if (!lossy(format)) return nullptr;
  const auto index = static_cast<std::size_t>(format);
  if (path == CodecPath::portable) return &kPortable[index];
#if BANYAN_CODEC_HAVE_SIMD
  if (detail::simdAvailable()) return &kSimd[index];
#endif
  return nullptr;
}

CodecPath bestPath() noexcept { return detail::simdAvailable() ? CodecPath::simd : CodecPath::portable; }

}  // namespace

namespace detail {

bool simdAvailable() noexcept {
#if BANYAN_CODEC_HAVE_SIMD
  // The same CPU test as the reduction kernels: both need AVX2 and F16C.
  return reduce::detail::simdAvailable();
#else
  return false;
#endif
}

bool encodePath(CodecPath path, CompressionFormat format, const float* in, float* residual, void* out,
                std::size_t count) noexcept {
  const Codec* codec = codecFor(path, format);
  if (codec == nullptr) return false;
  codec->encode(in, residual, out, count);
  return true;
}

bool decodePath(CodecPath path, CompressionFormat format, const void* in, float* out, std::size_t count) noexcept {
  const Codec* codec = codecFor(path, format);
  if (codec == nullptr) return false;
  codec->decode(in, out, count);
  return true;
}

UnitKernel sumKernelPath(CodecPath path, CompressionFormat format) noexcept {
  const auto reducePath =
      path == CodecPath::simd ? reduce::detail::KernelPath::simd : reduce::detail::KernelPath::portable;
  switch (format) {
    case CompressionFormat::bf16:
      return reduce::detail::kernelForPath(DataType::bf16, ReduceOp::sum, reducePath);
    case CompressionFormat::fp16:
      return reduce::detail::kernelForPath(DataType::f16, ReduceOp::sum, reducePath);
    case CompressionFormat::int8:
      if (path == CodecPath::portable) return &portable::sumInt8;
#if BANYAN_CODEC_HAVE_SIMD
      if (simdAvailable()) return &simd::sumInt8;
#endif
      return nullptr;
    case CompressionFormat::none:
      return nullptr;
  }
  return nullptr;
}

}  // namespace detail

std::size_t unitBytes(CompressionFormat format) noexcept {
  switch (format) {
    case CompressionFormat::none:
      return sizeof(float);
    case CompressionFormat::bf16:
    case CompressionFormat::fp16:
      return sizeof(std::uint16_t);
    case CompressionFormat::int8:
      return kInt8BlockBytes;
  }
  return 0;
}

std::size_t unitsFor(CompressionFormat format, std::size_t count) noexcept {
  if (format != CompressionFormat::int8) return count;
  return (count + kInt8BlockElements - 1) / kInt8BlockElements;
}

void encode(CompressionFormat format, const float* in, float* residual, void* out, std::size_t count) noexcept {
  detail::encodePath(bestPath(), format, in, residual, out, count);
}

void decode(CompressionFormat format, const void* in, float* out, std::size_t count) noexcept {
  detail::decodePath(bestPath(), format, in, out, count);
}

UnitKernel sumKernel(CompressionFormat format) noexcept { return detail::sumKernelPath(bestPath(), format); }

std::size_t elementsPerUnit(CompressionFormat format) noexcept {
  return format == CompressionFormat::int8 ? kInt8BlockElements : 1;
}

void sumKeepingResidual(CompressionFormat format, void* dst, const void* a, const void* b, std::size_t units,
                        float* residual, std::size_t elements, float* scratch) noexcept {
  const std::size_t values = units * elementsPerUnit(format);
  float* sum = scratch;
  float* dropped = scratch + values;
  decode(format, a, sum, values);
  decode(format, b, dropped, values);
  for (std::size_t j = 0; j < values; ++j) {
    sum[j] += dropped[j];
    dropped[j] = 0.0f;
  }
  encode(format, sum, dropped, dst, values);
  for (std::size_t j = 0; j < elements; ++j) residual[j] += dropped[j];
}

}  // namespace banyan::compress
