// The compressed-allreduce codec (src/compress): the AVX2/F16C and portable paths give the same
// bits for encode (with and without a residual), decode and the int8 block sum; one encoding's
// error stays within the per-format bound docs/numerics.md states; the residual is exactly what
// the encoding dropped; Inf, NaN, fp16 overflow and tiny blocks behave as documented.

#include "compress/codec.hpp"
#include "compress/codec_internal.hpp"

#include <banyan/compression.hpp>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using banyan::CompressionFormat;
namespace compress = banyan::compress;
using compress::detail::CodecPath;

namespace {

constexpr CompressionFormat kLossy[] = {CompressionFormat::bf16, CompressionFormat::fp16, CompressionFormat::int8};
constexpr std::size_t kCounts[] = {0, 1, 15, 16, 17, 127, 128, 129, 1000, 4099};

// Mixed magnitudes (2^-20 .. 2^12, both signs), with some exact zeros and negative zeros.
std::vector<float> mixed(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 12);
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) {
    v[i] = std::ldexp(mantissa(rng), exponent(rng));
    if (i % 97 == 5) v[i] = 0.0f;
    if (i % 89 == 7) v[i] = -0.0f;
  }
  return v;
}

std::vector<std::byte> encoded(CompressionFormat f, std::size_t count) {
  return std::vector<std::byte>(compress::unitsFor(f, count) * compress::unitBytes(f) + 1, std::byte{0x5A});
}

bool sameBits(const void* a, const void* b, std::size_t bytes) { return bytes == 0 || std::memcmp(a, b, bytes) == 0; }

float blockMax(const std::vector<float>& v, std::size_t i) {
  const std::size_t begin = i / banyan::kInt8BlockElements * banyan::kInt8BlockElements;
  float m = 0;
  for (std::size_t j = begin; j < std::min(v.size(), begin + banyan::kInt8BlockElements); ++j) {
    m = std::max(m, std::fabs(v[j]));
  }
  return m;
}

}  // namespace

TEST_CASE("codec: unit sizes", "[codec]") {
  CHECK(compress::unitBytes(CompressionFormat::bf16) == 2);
  CHECK(compress::unitBytes(CompressionFormat::fp16) == 2);
  CHECK(compress::unitBytes(CompressionFormat::int8) == 4 + banyan::kInt8BlockElements);
  CHECK(compress::unitsFor(CompressionFormat::int8, 0) == 0);
  CHECK(compress::unitsFor(CompressionFormat::int8, 1) == 1);
  CHECK(compress::unitsFor(CompressionFormat::int8, 128) == 1);
  CHECK(compress::unitsFor(CompressionFormat::int8, 129) == 2);
  CHECK(compress::unitsFor(CompressionFormat::bf16, 129) == 129);
  CHECK(banyan::parseCompressionFormat("int8") == CompressionFormat::int8);
  CHECK(banyan::parseCompressionFormat("bfloat16") == CompressionFormat::bf16);
  CHECK_FALSE(banyan::parseCompressionFormat("int4").has_value());
  CHECK(banyan::toString(CompressionFormat::fp16) == "fp16");
}

TEST_CASE("codec: AVX2 and portable paths agree bit for bit", "[codec]") {
  if (!compress::detail::simdAvailable()) {
    WARN("no AVX2/F16C on this CPU: only the portable codec exists here");
    return;
  }
  for (const CompressionFormat f : kLossy) {
    for (const std::size_t count : kCounts) {
      INFO(banyan::toString(f) << " count " << count);
      std::vector<float> in = mixed(count, static_cast<std::uint32_t>(count) * 7 + 1);
      if (count > 20) {
        in[3] = std::numeric_limits<float>::infinity();
        in[11] = std::numeric_limits<float>::quiet_NaN();
        in[19] = 1e5f;  // beyond fp16
        in[count - 1] = 1e-40f;
      }
      const std::vector<float> residual0 = mixed(count, 99);
      for (const bool feedback : {false, true}) {
        std::vector<float> rp = residual0, rs = residual0;
        auto ep = encoded(f, count), es = encoded(f, count);
        REQUIRE(compress::detail::encodePath(CodecPath::portable, f, in.data(), feedback ? rp.data() : nullptr,
                                             ep.data(), count));
        REQUIRE(compress::detail::encodePath(CodecPath::simd, f, in.data(), feedback ? rs.data() : nullptr, es.data(),
                                             count));
        CHECK(ep == es);
        CHECK(sameBits(rp.data(), rs.data(), count * sizeof(float)));
        std::vector<float> dp(count + 1, 7.0f), ds(count + 1, 7.0f);
        REQUIRE(compress::detail::decodePath(CodecPath::portable, f, ep.data(), dp.data(), count));
        REQUIRE(compress::detail::decodePath(CodecPath::simd, f, es.data(), ds.data(), count));
        CHECK(sameBits(dp.data(), ds.data(), (count + 1) * sizeof(float)));
        CHECK(dp[count] == 7.0f);  // nothing written past count
      }
      // The sum of two encoded buffers, also in place.
      const std::vector<float> other = mixed(count, 1234);
      auto a = encoded(f, count), b = encoded(f, count);
      compress::encode(f, in.data(), nullptr, a.data(), count);
      compress::encode(f, other.data(), nullptr, b.data(), count);
      const std::size_t units = compress::unitsFor(f, count);
      auto sp = encoded(f, count), ss = encoded(f, count), inPlace = a;
      compress::detail::sumKernelPath(CodecPath::portable, f)(sp.data(), a.data(), b.data(), units);
      compress::detail::sumKernelPath(CodecPath::simd, f)(ss.data(), a.data(), b.data(), units);
      compress::detail::sumKernelPath(CodecPath::simd, f)(inPlace.data(), inPlace.data(), b.data(), units);
      CHECK(sp == ss);
      CHECK(sp == inPlace);
    }
  }
}

TEST_CASE("codec: one encoding's error and residual", "[codec]") {
  const std::size_t count = 4099;
  const std::vector<float> in = mixed(count, 5);
  const std::vector<float> residual0 = mixed(count, 6);
  for (const CompressionFormat f : kLossy) {
    for (const CodecPath path : {CodecPath::portable, CodecPath::simd}) {
      if (path == CodecPath::simd && !compress::detail::simdAvailable()) continue;
      INFO(banyan::toString(f) << (path == CodecPath::simd ? " simd" : " portable"));
      std::vector<float> residual = residual0, v(count), back(count);
      for (std::size_t i = 0; i < count; ++i) v[i] = in[i] + residual0[i];
      auto out = encoded(f, count);
      compress::detail::encodePath(path, f, in.data(), residual.data(), out.data(), count);
      compress::detail::decodePath(path, f, out.data(), back.data(), count);
      std::size_t inexact = 0;
      for (std::size_t i = 0; i < count; ++i) {
        const double error = std::fabs(static_cast<double>(v[i]) - back[i]);
        double bound = 0;
        if (f == CompressionFormat::bf16) bound = 0x1p-8 * std::fabs(v[i]);
        if (f == CompressionFormat::fp16) bound = 0x1p-11 * std::fabs(v[i]) + 0x1p-25;
        if (f == CompressionFormat::int8) bound = (0.5 + 0x1p-12) * blockMax(v, i) / 127;
        if (error > bound) FAIL_CHECK("element " << i << ": " << v[i] << " came back as " << back[i]);
        // The residual is exactly what was dropped (v - back is exact in f32 here).
        if (residual[i] != v[i] - back[i]) FAIL_CHECK("residual of element " << i);
        inexact += error > 0 ? 1 : 0;
      }
      CHECK(inexact > count / 2);  // the format is lossy on these inputs: the bounds above were tested
    }
  }
}

TEST_CASE("codec: non-finite values, fp16 overflow and tiny int8 blocks", "[codec]") {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> in(256, 1.5f);
  in[10] = inf;      // block 0 holds an Inf
  in[200] = 1e-31f;  // block 1 is ordinary
  std::vector<float> residual(256, 0.0f), back(256);
  auto out = encoded(CompressionFormat::int8, 256);
  compress::encode(CompressionFormat::int8, in.data(), residual.data(), out.data(), 256);
  compress::decode(CompressionFormat::int8, out.data(), back.data(), 256);
  for (std::size_t i = 0; i < 128; ++i) {
    CHECK(std::isnan(back[i]));
    CHECK(residual[i] == 0.0f);
  }
  CHECK(back[130] == 1.5f);

  std::vector<float> tiny(128, 0x1p-110f), tinyResidual(128, 0.0f), tinyBack(128);
  compress::encode(CompressionFormat::int8, tiny.data(), tinyResidual.data(), out.data(), 128);
  compress::decode(CompressionFormat::int8, out.data(), tinyBack.data(), 128);
  CHECK(tinyBack[0] == 0.0f);
  CHECK(tinyResidual[0] == 0x1p-110f);  // kept for a later call

  std::vector<float> big{1e5f, -1e5f, 3.0f}, bigResidual(3, 0.0f), bigBack(3);
  auto half = encoded(CompressionFormat::fp16, 3);
  compress::encode(CompressionFormat::fp16, big.data(), bigResidual.data(), half.data(), 3);
  compress::decode(CompressionFormat::fp16, half.data(), bigBack.data(), 3);
  CHECK(bigBack[0] == inf);
  CHECK(bigBack[1] == -inf);
  CHECK(bigResidual[0] == 0.0f);  // an overflow is not carried into the next call
  CHECK(bigBack[2] == 3.0f);
}

TEST_CASE("codec: the int8 sum is decode, add in f32, encode", "[codec]") {
  const std::size_t count = 1000;
  const std::vector<float> x = mixed(count, 11), y = mixed(count, 12);
  auto a = encoded(CompressionFormat::int8, count), b = encoded(CompressionFormat::int8, count);
  compress::encode(CompressionFormat::int8, x.data(), nullptr, a.data(), count);
  compress::encode(CompressionFormat::int8, y.data(), nullptr, b.data(), count);
  std::vector<float> dx(count), dy(count), sum(count);
  compress::decode(CompressionFormat::int8, a.data(), dx.data(), count);
  compress::decode(CompressionFormat::int8, b.data(), dy.data(), count);
  for (std::size_t i = 0; i < count; ++i) sum[i] = dx[i] + dy[i];
  auto expected = encoded(CompressionFormat::int8, count), got = encoded(CompressionFormat::int8, count);
  compress::encode(CompressionFormat::int8, sum.data(), nullptr, expected.data(), count);
  // The padded tail of the last block is zero on both sides, so whole units compare.
  compress::sumKernel(CompressionFormat::int8)(got.data(), a.data(), b.data(),
                                               compress::unitsFor(CompressionFormat::int8, count));
  CHECK(got == expected);
}
