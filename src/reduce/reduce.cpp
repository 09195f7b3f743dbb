#include "reduce/reduce.hpp"

#include "reduce/half.hpp"
#include "reduce/reduce_internal.hpp"

#include <array>
#include <cstdint>
#include <type_traits>

// The AVX2/F16C kernels need GCC-style target attributes, inline asm and <cpuid.h>.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define BANYAN_REDUCE_HAVE_SIMD 1
#include "reduce/simd_x86.hpp"
#else
#define BANYAN_REDUCE_HAVE_SIMD 0
#endif

namespace banyan::reduce {
namespace {

// ---- Element formats -------------------------------------------------------------------
// A format says how an element is stored and what type it is combined in. Native types are
// combined as themselves; the 16-bit floats are widened to f32 and rounded back per element.

template <class T>
struct Native {
  using Stored = T;
  using Compute = T;
  static Compute load(Stored x) noexcept { return x; }
  static Stored store(Compute x) noexcept { return x; }
};

struct Half {
  using Stored = std::uint16_t;
  using Compute = float;
  static Compute load(Stored x) noexcept { return detail::halfBitsToFloat(x); }
  static Stored store(Compute x) noexcept { return detail::floatToHalfBits(x); }
};

struct Bfloat16 {
  using Stored = std::uint16_t;
  using Compute = float;
  static Compute load(Stored x) noexcept { return detail::bfloat16BitsToFloat(x); }
  static Stored store(Compute x) noexcept { return detail::floatToBfloat16Bits(x); }
};

// ---- Operators ---------------------------------------------------------------------------
// Integer sum/prod go through an unsigned type: signed overflow is UB, unsigned wraps, and
// converting back is modular in C++20. Types narrower than int would promote to (signed) int,
// where 65535 * 65535 overflows, so they are combined in unsigned int (Wrapping<T>).

template <class T>
using Unsigned = std::make_unsigned_t<T>;
template <class T>
using Wrapping = std::common_type_t<Unsigned<T>, unsigned>;

struct Sum {
  template <class T>
  static T apply(T a, T b) noexcept {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<Wrapping<T>>(static_cast<Unsigned<T>>(a)) +
                            static_cast<Wrapping<T>>(static_cast<Unsigned<T>>(b)));
    } else {
      return a + b;
    }
  }
};

struct Prod {
  template <class T>
  static T apply(T a, T b) noexcept {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<Wrapping<T>>(static_cast<Unsigned<T>>(a)) *
                            static_cast<Wrapping<T>>(static_cast<Unsigned<T>>(b)));
    } else {
      return a * b;
    }
  }
};

// min/max propagate NaN (as PyTorch does): a plain `a < b ? a : b` would drop a NaN in `a`,
// so `a != a` catches that case; a NaN in `b` already falls through to `b`. Both forms are
// compares and selects, so they still vectorise. For integers `a != a` folds away.
struct Min {
  template <class T>
  static T apply(T a, T b) noexcept {
    return (a < b || a != a) ? a : b;
  }
};

struct Max {
  template <class T>
  static T apply(T a, T b) noexcept {
    return (a > b || a != a) ? a : b;
  }
};

struct BitAnd {
  template <class T>
  static T apply(T a, T b) noexcept {
    return static_cast<T>(a & b);
  }
};

struct BitOr {
  template <class T>
  static T apply(T a, T b) noexcept {
    return static_cast<T>(a | b);
  }
};

struct BitXor {
  template <class T>
  static T apply(T a, T b) noexcept {
    return static_cast<T>(a ^ b);
  }
};

// ---- Generic kernels -----------------------------------------------------------------------

// A plain loop with no restrict: dst may be exactly a or b, and reading element i before
// writing element i is all it needs. g++ versions the vectorised loop on a runtime overlap
// check that accepts an exact alias, so in-place calls run vectorised too. (A restrict copy
// for the non-aliased case made no measurable difference at 16 MiB, so there is none.)
template <class Format, class Op>
void combine(void* dst, const void* a, const void* b, std::size_t count) noexcept {
  using S = typename Format::Stored;
  auto* d = static_cast<S*>(dst);
  const auto* x = static_cast<const S*>(a);
  const auto* y = static_cast<const S*>(b);
  for (std::size_t i = 0; i < count; ++i) {
    d[i] = Format::store(Op::apply(Format::load(x[i]), Format::load(y[i])));
  }
}

template <class Format>
constexpr std::array<Kernel, kReduceOpCount> kernelsFor() {
  // Order follows ReduceOp: sum, prod, min, max, avg (avg combines as sum), band, bor, bxor
  // (integers only: null for floating-point formats).
  if constexpr (std::is_integral_v<typename Format::Compute>) {
    return {&combine<Format, Sum>, &combine<Format, Prod>,   &combine<Format, Min>,   &combine<Format, Max>,
            &combine<Format, Sum>, &combine<Format, BitAnd>, &combine<Format, BitOr>, &combine<Format, BitXor>};
  } else {
    return {&combine<Format, Sum>,
            &combine<Format, Prod>,
            &combine<Format, Min>,
            &combine<Format, Max>,
            &combine<Format, Sum>,
            nullptr,
            nullptr,
            nullptr};
  }
}

// Order follows DataType: f32, f64, f16, bf16, i8, u8, i32, i64, i16. These are the portable
// kernels; kernelFor() prefers the AVX2/F16C ones for f16 and bf16 when the CPU has them.
constexpr std::array<std::array<Kernel, kReduceOpCount>, kDataTypeCount> kKernels = {
    kernelsFor<Native<float>>(),
    kernelsFor<Native<double>>(),
    kernelsFor<Half>(),
    kernelsFor<Bfloat16>(),
    kernelsFor<Native<std::int8_t>>(),
    kernelsFor<Native<std::uint8_t>>(),
    kernelsFor<Native<std::int32_t>>(),
    kernelsFor<Native<std::int64_t>>(),
    kernelsFor<Native<std::int16_t>>(),
};

// ---- divideBy -------------------------------------------------------------------------------
// divisor == 0 is a caller bug (it is the number of ranks): floats give inf/NaN as IEEE says,
// integers are left unchanged rather than trapping.

template <class T>
void divideInteger(void* buffer, std::size_t count, int divisor) noexcept {
  auto* p = static_cast<T*>(buffer);
  if (divisor == 0) return;
  if (divisor == -1) {
    // x / -1 overflows for the minimum value; negating in the unsigned type wraps.
    for (std::size_t i = 0; i < count; ++i) {
      p[i] = static_cast<T>(static_cast<Unsigned<T>>(0u - static_cast<Unsigned<T>>(p[i])));
    }
    return;
  }
  if constexpr (sizeof(T) <= 4) {
    // x86 has no SIMD integer division, so divide in floating point instead, which
    // vectorises: f32 for 8- and 16-bit values, f64 for 32-bit ones. Truncating the
    // rounded quotient is still exact. If x / d is not an integer it lies at least 1/|d|
    // from the nearest one, and the rounding error is at most |x / d| * 2^-24 (f32) or
    // 2^-53 (f64), which is below 1/|d| because |x| < 2^16 or 2^31. (A divisor above
    // 2^24 may round in f32, but then |x| < |d| either way and the answer is 0.)
    using Fp = std::conditional_t<sizeof(T) <= 2, float, double>;
    const auto d = static_cast<Fp>(divisor);
    for (std::size_t i = 0; i < count; ++i) {
      // Via int32: the quotient fits it, but not necessarily an unsigned T (u8 / -2).
      p[i] = static_cast<T>(static_cast<std::int32_t>(static_cast<Fp>(p[i]) / d));
    }
  } else {
    // i64 does not fit a double's mantissa; C++ division truncates toward zero.
    const auto d = static_cast<T>(divisor);
    for (std::size_t i = 0; i < count; ++i) p[i] = static_cast<T>(p[i] / d);
  }
}

template <class Format>
void divideFloat(void* buffer, std::size_t count, int divisor) noexcept {
  using S = typename Format::Stored;
  using C = typename Format::Compute;
  auto* p = static_cast<S*>(buffer);
  // Division rather than multiplying by a reciprocal keeps results correctly rounded
  // (1/3 is inexact, so x * (1/3) can differ from x / 3).
  const auto d = static_cast<C>(divisor);
  for (std::size_t i = 0; i < count; ++i) p[i] = Format::store(Format::load(p[i]) / d);
}

std::size_t indexOf(auto e) noexcept { return static_cast<std::size_t>(e); }

// The hand-vectorised f16/bf16 kernels for this CPU, or null when there are none.
Kernel simdKernel(DataType type, ReduceOp op) noexcept {
#if BANYAN_REDUCE_HAVE_SIMD
  if (detail::simdAvailable()) {
    if (type == DataType::f16) return simd::kKernels<simd::HalfBlock>[indexOf(op)];
    if (type == DataType::bf16) return simd::kKernels<simd::Bfloat16V>[indexOf(op)];
  }
#else
  (void)type;
  (void)op;
#endif
  return nullptr;
}

bool simdDivideBy(DataType type, void* buffer, std::size_t count, int divisor) noexcept {
#if BANYAN_REDUCE_HAVE_SIMD
  if (detail::simdAvailable()) {
    if (type == DataType::f16) {
      simd::divide<simd::HalfBlock>(buffer, count, divisor);
      return true;
    }
    if (type == DataType::bf16) {
      simd::divide<simd::Bfloat16V>(buffer, count, divisor);
      return true;
    }
  }
#else
  (void)type, (void)buffer, (void)count, (void)divisor;
#endif
  return false;
}

void portableDivideBy(DataType type, void* buffer, std::size_t count, int divisor) noexcept {
  switch (type) {
    case DataType::f32:
      divideFloat<Native<float>>(buffer, count, divisor);
      return;
    case DataType::f64:
      divideFloat<Native<double>>(buffer, count, divisor);
      return;
    case DataType::f16:
      divideFloat<Half>(buffer, count, divisor);
      return;
    case DataType::bf16:
      divideFloat<Bfloat16>(buffer, count, divisor);
      return;
    case DataType::i8:
      divideInteger<std::int8_t>(buffer, count, divisor);
      return;
    case DataType::u8:
      divideInteger<std::uint8_t>(buffer, count, divisor);
      return;
    case DataType::i32:
      divideInteger<std::int32_t>(buffer, count, divisor);
      return;
    case DataType::i64:
      divideInteger<std::int64_t>(buffer, count, divisor);
      return;
    case DataType::i16:
      divideInteger<std::int16_t>(buffer, count, divisor);
      return;
  }
}

}  // namespace

namespace detail {

bool simdAvailable() noexcept {
#if BANYAN_REDUCE_HAVE_SIMD
  static const bool available = simd::cpuSupported();
  return available;
#else
  return false;
#endif
}

Kernel kernelForPath(DataType type, ReduceOp op, KernelPath path) noexcept {
  if (!isValid(type) || !isValid(op)) return nullptr;
  if (path == KernelPath::portable) return kKernels[indexOf(type)][indexOf(op)];
  if (!simdAvailable()) return nullptr;
  const Kernel kernel = simdKernel(type, op);
  return kernel != nullptr ? kernel : kKernels[indexOf(type)][indexOf(op)];
}

bool divideByPath(DataType type, KernelPath path, void* buffer, std::size_t count, int divisor) noexcept {
  if (!isValid(type)) return false;
  if (path == KernelPath::simd) {
    if (!simdAvailable()) return false;
    if (simdDivideBy(type, buffer, count, divisor)) return true;
  }
  portableDivideBy(type, buffer, count, divisor);
  return true;
}

}  // namespace detail

Kernel kernelFor(DataType type, ReduceOp op) noexcept {
  if (!isValid(type) || !isValid(op)) return nullptr;
  if (const Kernel kernel = simdKernel(type, op)) return kernel;
  return kKernels[indexOf(type)][indexOf(op)];
}

void reduce(DataType type, ReduceOp op, void* dst, const void* a, const void* b, std::size_t count) noexcept {
  if (const Kernel kernel = kernelFor(type, op)) kernel(dst, a, b, count);
}

void divideBy(DataType type, void* buffer, std::size_t count, int divisor) noexcept {
  if (!isValid(type)) return;
  if (!simdDivideBy(type, buffer, count, divisor)) portableDivideBy(type, buffer, count, divisor);
}

float halfToFloat(std::uint16_t h) noexcept { return detail::halfBitsToFloat(h); }
std::uint16_t floatToHalf(float f) noexcept { return detail::floatToHalfBits(f); }
float bfloat16ToFloat(std::uint16_t h) noexcept { return detail::bfloat16BitsToFloat(h); }
std::uint16_t floatToBfloat16(float f) noexcept { return detail::floatToBfloat16Bits(f); }

// ---- scale ---------------------------------------------------------------------------------

namespace {

template <typename T>
void scaleNative(void* dst, const void* src, std::size_t count, T factor) noexcept {
  auto* out = static_cast<T*>(dst);
  const auto* in = static_cast<const T*>(src);
  for (std::size_t i = 0; i < count; ++i) out[i] = in[i] * factor;
}

template <float (*Widen)(std::uint16_t), std::uint16_t (*Narrow)(float)>
void scaleHalf(void* dst, const void* src, std::size_t count, float factor) noexcept {
  auto* out = static_cast<std::uint16_t*>(dst);
  const auto* in = static_cast<const std::uint16_t*>(src);
  for (std::size_t i = 0; i < count; ++i) out[i] = Narrow(Widen(in[i]) * factor);
}

}  // namespace

void scale(DataType type, void* dst, const void* src, std::size_t count, double factor) noexcept {
  switch (type) {
    case DataType::f32:
      return scaleNative<float>(dst, src, count, static_cast<float>(factor));
    case DataType::f64:
      return scaleNative<double>(dst, src, count, factor);
    case DataType::f16:
      return scaleHalf<halfToFloat, floatToHalf>(dst, src, count, static_cast<float>(factor));
    case DataType::bf16:
      return scaleHalf<bfloat16ToFloat, floatToBfloat16>(dst, src, count, static_cast<float>(factor));
    default:
      return;  // integer types: refused before any call gets here
  }
}

}  // namespace banyan::reduce
