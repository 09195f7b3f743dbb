// Reduction kernels: every dtype x op against a reference, aliasing, wraparound, NaN, the
// 16-bit float conversions, divideBy, and agreement between the portable and SIMD paths.

#include "reduce/reduce.hpp"
#include "reduce/reduce_internal.hpp"

#include <banyan/types.hpp>
#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using banyan::DataType;
using banyan::ReduceOp;
namespace reduce = banyan::reduce;
namespace detail = banyan::reduce::detail;

namespace {

constexpr DataType kAllTypes[] = {DataType::f32, DataType::f64, DataType::f16, DataType::bf16, DataType::i8,
                                  DataType::u8,  DataType::i32, DataType::i64, DataType::i16};
constexpr ReduceOp kAllOps[] = {ReduceOp::sum, ReduceOp::prod, ReduceOp::min, ReduceOp::max, ReduceOp::avg};
constexpr std::size_t kCounts[] = {0, 1, 7, 33, 1000, 4099};
// Elements past `count` that must come out untouched.
constexpr std::size_t kGuard = 5;
constexpr std::uint8_t kGuardByte = 0xA5;

bool isFloating(DataType type) {
  return type == DataType::f32 || type == DataType::f64 || type == DataType::f16 || type == DataType::bf16;
}

std::string label(DataType type, ReduceOp op) {
  return std::string(banyan::toString(type)) + " " + std::string(banyan::toString(op));
}

// Typed buffers are kept as raw bytes; values travel as int64 (integer-valued throughout).
using Bytes = std::vector<std::uint8_t>;

void encode(DataType type, Bytes& out, std::size_t i, std::int64_t v) {
  auto put = [&](auto x) { std::memcpy(out.data() + i * sizeof(x), &x, sizeof(x)); };
  const auto bits = static_cast<std::uint64_t>(v);  // ints wrap modulo 2^n (C++20)
  switch (type) {
    case DataType::f32:
      put(static_cast<float>(v));
      break;
    case DataType::f64:
      put(static_cast<double>(v));
      break;
    case DataType::f16:
      put(reduce::floatToHalf(static_cast<float>(v)));
      break;
    case DataType::bf16:
      put(reduce::floatToBfloat16(static_cast<float>(v)));
      break;
    case DataType::i8:
      put(static_cast<std::int8_t>(bits));
      break;
    case DataType::u8:
      put(static_cast<std::uint8_t>(bits));
      break;
    case DataType::i32:
      put(static_cast<std::int32_t>(bits));
      break;
    case DataType::i64:
      put(static_cast<std::int64_t>(bits));
      break;
    case DataType::i16:
      put(static_cast<std::int16_t>(bits));
      break;
  }
}

// Float elements as double; integers sign- or zero-extended.
double decodeFloat(DataType type, const Bytes& in, std::size_t i) {
  auto get = [&](auto x) {
    std::memcpy(&x, in.data() + i * sizeof(x), sizeof(x));
    return x;
  };
  switch (type) {
    case DataType::f32:
      return get(0.0f);
    case DataType::f64:
      return get(0.0);
    case DataType::f16:
      return reduce::halfToFloat(get(std::uint16_t{}));
    case DataType::bf16:
      return reduce::bfloat16ToFloat(get(std::uint16_t{}));
    default:
      return 0;
  }
}

std::int64_t decodeInt(DataType type, const Bytes& in, std::size_t i) {
  auto get = [&](auto x) {
    std::memcpy(&x, in.data() + i * sizeof(x), sizeof(x));
    return x;
  };
  switch (type) {
    case DataType::i8:
      return get(std::int8_t{});
    case DataType::u8:
      return get(std::uint8_t{});
    case DataType::i32:
      return get(std::int32_t{});
    case DataType::i64:
      return get(std::int64_t{});
    case DataType::i16:
      return get(std::int16_t{});
    default:
      return 0;
  }
}

// Float types get small integers so sums and products are exact even in bf16 (8 significant
// bits); integer types get their full range so that sum and prod wrap.
std::int64_t randomValue(DataType type, std::mt19937_64& rng) {
  const std::uint64_t r = rng();
  switch (type) {
    case DataType::i8:
      return static_cast<std::int8_t>(r);
    case DataType::u8:
      return static_cast<std::uint8_t>(r);
    case DataType::i32:
      return static_cast<std::int32_t>(r);
    case DataType::i64:
      return static_cast<std::int64_t>(r);
    case DataType::i16:
      return static_cast<std::int16_t>(r);
    default:
      return static_cast<std::int64_t>(r % 17) - 8;
  }
}

// The straightforward definition; the result is encoded (wrapped) into the element type.
std::int64_t referenceOp(ReduceOp op, std::int64_t a, std::int64_t b) {
  const auto ua = static_cast<std::uint64_t>(a);
  const auto ub = static_cast<std::uint64_t>(b);
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg:
      return static_cast<std::int64_t>(ua + ub);
    case ReduceOp::prod:
      return static_cast<std::int64_t>(ua * ub);
    case ReduceOp::min:
      return a < b ? a : b;
    case ReduceOp::max:
      return a > b ? a : b;
    case ReduceOp::band:
      return a & b;
    case ReduceOp::bor:
      return a | b;
    case ReduceOp::bxor:
      return a ^ b;
  }
  return 0;
}

// Runs kernel on (dst, a, b) where dst is a fresh buffer, a, or b (or a == b == dst) and
// checks the result element by element against the reference, plus the guard elements.
enum class Alias { none, dstIsA, dstIsB, allSame };

void checkKernel(reduce::Kernel kernel, DataType type, ReduceOp op, std::size_t count, Alias alias,
                 std::uint64_t seed) {
  INFO(label(type, op) << " count=" << count << " alias=" << static_cast<int>(alias));
  REQUIRE(kernel != nullptr);
  const std::size_t size = banyan::dataTypeSize(type);
  std::mt19937_64 rng(seed);
  Bytes a((count + kGuard) * size, kGuardByte), b = a, dst = a, expected = a;
  std::vector<std::int64_t> va(count), vb(count);
  for (std::size_t i = 0; i < count; ++i) {
    va[i] = randomValue(type, rng);
    vb[i] = alias == Alias::allSame ? va[i] : randomValue(type, rng);
    encode(type, a, i, va[i]);
    encode(type, b, i, vb[i]);
    encode(type, expected, i, referenceOp(op, va[i], vb[i]));
  }
  switch (alias) {
    case Alias::none:
      kernel(dst.data(), a.data(), b.data(), count);
      break;
    case Alias::dstIsA:
      kernel(a.data(), a.data(), b.data(), count);
      dst = a;
      break;
    case Alias::dstIsB:
      kernel(b.data(), a.data(), b.data(), count);
      dst = b;
      break;
    case Alias::allSame:
      kernel(a.data(), a.data(), a.data(), count);
      dst = a;
      break;
  }
  for (std::size_t i = 0; i < count; ++i) {
    INFO("element " << i << " a=" << va[i] << " b=" << vb[i]);
    if (isFloating(type)) {
      // Compare values, not bits: -3 * 0 is -0 while the reference encodes +0.
      REQUIRE(decodeFloat(type, dst, i) == decodeFloat(type, expected, i));
    } else {
      REQUIRE(decodeInt(type, dst, i) == decodeInt(type, expected, i));
    }
  }
  for (std::size_t byte = count * size; byte < dst.size(); ++byte) REQUIRE(dst[byte] == kGuardByte);
}

// Every kernel implementation available on this machine for (type, op).
std::vector<reduce::Kernel> implementations(DataType type, ReduceOp op) {
  std::vector<reduce::Kernel> kernels = {reduce::kernelFor(type, op),
                                         detail::kernelForPath(type, op, detail::KernelPath::portable)};
  if (detail::simdAvailable()) {
    kernels.push_back(detail::kernelForPath(type, op, detail::KernelPath::simd));
  }
  return kernels;
}

bool isNanHalf(std::uint16_t h) { return (h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0; }
bool isNanBfloat16(std::uint16_t h) { return (h & 0x7F80u) == 0x7F80u && (h & 0x7Fu) != 0; }

}  // namespace

TEST_CASE("kernelFor covers every dtype x op and rejects invalid input", "[reduce]") {
  for (DataType type : kAllTypes) {
    for (ReduceOp op : kAllOps) CHECK(reduce::kernelFor(type, op) != nullptr);
  }
  CHECK(reduce::kernelFor(static_cast<DataType>(99), ReduceOp::sum) == nullptr);
  CHECK(reduce::kernelFor(DataType::f32, static_cast<ReduceOp>(99)) == nullptr);
  // avg combines as sum; the division is separate.
  CHECK(reduce::kernelFor(DataType::i32, ReduceOp::avg) == reduce::kernelFor(DataType::i32, ReduceOp::sum));
}

TEST_CASE("every dtype x op matches the reference, including aliased dst", "[reduce]") {
  std::uint64_t seed = 1;
  for (DataType type : kAllTypes) {
    for (ReduceOp op : kAllOps) {
      for (reduce::Kernel kernel : implementations(type, op)) {
        for (std::size_t count : kCounts) {
          for (Alias alias : {Alias::none, Alias::dstIsA, Alias::dstIsB, Alias::allSame}) {
            checkKernel(kernel, type, op, count, alias, seed++);
          }
        }
      }
    }
  }
}

TEST_CASE("reduce() forwards to the kernel", "[reduce]") {
  const std::int32_t a[3] = {1, -2, 3}, b[3] = {10, 20, -30};
  std::int32_t dst[3] = {};
  reduce::reduce(DataType::i32, ReduceOp::max, dst, a, b, 3);
  CHECK(dst[0] == 10);
  CHECK(dst[1] == 20);
  CHECK(dst[2] == 3);
}

TEST_CASE("integer sum and prod wrap around", "[reduce]") {
  SECTION("i8") {
    const std::int8_t a[4] = {127, -128, 100, 16}, b[4] = {1, -1, 100, 16};
    std::int8_t sum[4], prod[4];
    reduce::reduce(DataType::i8, ReduceOp::sum, sum, a, b, 4);
    reduce::reduce(DataType::i8, ReduceOp::prod, prod, a, b, 4);
    CHECK(sum[0] == -128);
    CHECK(sum[1] == 127);
    CHECK(sum[2] == -56);  // 200 - 256
    CHECK(prod[3] == 0);   // 256 wraps to 0
    CHECK(prod[2] == 16);  // 10000 mod 256
  }
  SECTION("u8") {
    const std::uint8_t a[3] = {255, 200, 16}, b[3] = {1, 100, 17};
    std::uint8_t sum[3], prod[3];
    reduce::reduce(DataType::u8, ReduceOp::sum, sum, a, b, 3);
    reduce::reduce(DataType::u8, ReduceOp::prod, prod, a, b, 3);
    CHECK(sum[0] == 0);
    CHECK(sum[1] == 44);
    CHECK(prod[2] == 16);  // 272 mod 256
  }
  SECTION("i32 and i64") {
    const std::int32_t a32 = std::numeric_limits<std::int32_t>::max(), b32 = 1;
    std::int32_t r32 = 0;
    reduce::reduce(DataType::i32, ReduceOp::sum, &r32, &a32, &b32, 1);
    CHECK(r32 == std::numeric_limits<std::int32_t>::min());
    const std::int64_t a64 = std::numeric_limits<std::int64_t>::min(), b64 = -1;
    std::int64_t r64 = 0;
    reduce::reduce(DataType::i64, ReduceOp::sum, &r64, &a64, &b64, 1);
    CHECK(r64 == std::numeric_limits<std::int64_t>::max());
    reduce::reduce(DataType::i64, ReduceOp::prod, &r64, &a64, &b64, 1);
    CHECK(r64 == std::numeric_limits<std::int64_t>::min());
  }
}

TEST_CASE("min and max propagate NaN", "[reduce]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // NaN in a, NaN in b, NaN in both, then ordinary values including infinities. 19
  // elements so that the SIMD paths exercise both a full block and a tail.
  const std::vector<float> as = {nan, 1, nan, -inf, 2, inf, -0.0f, 5, nan, 3, nan, 1, nan, -inf, 2, inf, 7, 5, 4};
  const std::vector<float> bs = {1, nan, nan, 1, -inf, 3, 0.0f, 5, -2, nan, 1, nan, nan, 1, -inf, 3, 8, nan, 4};
  const std::size_t n = as.size();
  for (DataType type : {DataType::f32, DataType::f64, DataType::f16, DataType::bf16}) {
    const std::size_t size = banyan::dataTypeSize(type);
    Bytes a(n * size), b(n * size);
    for (std::size_t i = 0; i < n; ++i) {
      auto put = [&](Bytes& out, float v) {
        switch (type) {
          case DataType::f32:
            std::memcpy(&out[i * size], &v, size);
            break;
          case DataType::f64: {
            const double d = v;
            std::memcpy(&out[i * size], &d, size);
            break;
          }
          case DataType::f16: {
            const std::uint16_t h = reduce::floatToHalf(v);
            std::memcpy(&out[i * size], &h, size);
            break;
          }
          default: {
            const std::uint16_t h = reduce::floatToBfloat16(v);
            std::memcpy(&out[i * size], &h, size);
          }
        }
      };
      put(a, as[i]);
      put(b, bs[i]);
    }
    for (ReduceOp op : {ReduceOp::min, ReduceOp::max, ReduceOp::sum}) {
      for (reduce::Kernel kernel : implementations(type, op)) {
        Bytes dst(n * size);
        kernel(dst.data(), a.data(), b.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
          INFO(label(type, op) << " element " << i);
          const double got = decodeFloat(type, dst, i);
          if (std::isnan(as[i]) || std::isnan(bs[i])) {
            CHECK(std::isnan(got));
          } else if (op == ReduceOp::min) {
            CHECK(got == std::min(as[i], bs[i]));
          } else if (op == ReduceOp::max) {
            CHECK(got == std::max(as[i], bs[i]));
          }
        }
      }
    }
  }
}

TEST_CASE("half conversion round-trips all 65536 bit patterns", "[reduce]") {
  for (std::uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float f = reduce::halfToFloat(h);
    const std::uint16_t back = reduce::floatToHalf(f);
    INFO("half 0x" << std::hex << bits);
    if (isNanHalf(h)) {
      // NaN stays NaN, with its sign and payload; only the quiet bit may be added.
      REQUIRE(std::isnan(f));
      REQUIRE(back == (h | 0x0200u));
    } else {
      REQUIRE(back == h);
    }
  }
}

TEST_CASE("half conversion of known values", "[reduce]") {
  CHECK(reduce::halfToFloat(0x3C00) == 1.0f);
  CHECK(reduce::halfToFloat(0xC000) == -2.0f);
  CHECK(reduce::halfToFloat(0x7BFF) == 65504.0f);
  CHECK(reduce::halfToFloat(0x0400) == 0x1p-14f);         // smallest normal
  CHECK(reduce::halfToFloat(0x0001) == 0x1p-24f);         // smallest subnormal
  CHECK(reduce::halfToFloat(0x03FF) == 1023 * 0x1p-24f);  // largest subnormal
  CHECK(reduce::halfToFloat(0x7C00) == std::numeric_limits<float>::infinity());
  CHECK(std::signbit(reduce::halfToFloat(0x8000)));
  CHECK(reduce::halfToFloat(0x8000) == 0.0f);

  CHECK(reduce::floatToHalf(1.0f) == 0x3C00);
  CHECK(reduce::floatToHalf(65504.0f) == 0x7BFF);
  CHECK(reduce::floatToHalf(-0.0f) == 0x8000);
  CHECK(reduce::floatToHalf(0x1p-24f) == 0x0001);
  CHECK(reduce::floatToHalf(0x1p-14f) == 0x0400);
  // Ties go to the even neighbour; anything past the tie goes up.
  CHECK(reduce::floatToHalf(1.0f + 0x1p-11f) == 0x3C00);
  CHECK(reduce::floatToHalf(1.0f + 3 * 0x1p-11f) == 0x3C02);
  CHECK(reduce::floatToHalf(1.0f + 0x1p-11f + 0x1p-20f) == 0x3C01);
  CHECK(reduce::floatToHalf(65519.0f) == 0x7BFF);
  CHECK(reduce::floatToHalf(65520.0f) == 0x7C00);  // tie with 65536 rounds to even: inf
  CHECK(reduce::floatToHalf(-1e6f) == 0xFC00);
  CHECK(reduce::floatToHalf(0x1p-25f) == 0x0000);      // tie between 0 and 1 ulp
  CHECK(reduce::floatToHalf(3 * 0x1p-25f) == 0x0002);  // tie between 1 and 2 ulp
  CHECK(reduce::floatToHalf(0x1p-25f + 0x1p-30f) == 0x0001);
  CHECK(reduce::floatToHalf(1023.5f * 0x1p-24f) == 0x0400);  // subnormal rounds to normal
  CHECK(reduce::floatToHalf(0x1p-40f) == 0x0000);
  CHECK(reduce::floatToHalf(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(reduce::floatToHalf(std::numeric_limits<float>::infinity()) == 0x7C00);
  // A NaN whose payload lives only in the low bits must not become infinity.
  CHECK(isNanHalf(reduce::floatToHalf(std::bit_cast<float>(0x7F80'0001u))));
  CHECK(reduce::floatToHalf(std::bit_cast<float>(0xFF80'0001u)) == 0xFE00);
  CHECK(isNanHalf(reduce::floatToHalf(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("bfloat16 conversion round-trips all 65536 bit patterns", "[reduce]") {
  for (std::uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float f = reduce::bfloat16ToFloat(h);
    const std::uint16_t back = reduce::floatToBfloat16(f);
    INFO("bfloat16 0x" << std::hex << bits);
    REQUIRE(std::bit_cast<std::uint32_t>(f) == bits << 16);
    if (isNanBfloat16(h)) {
      REQUIRE(std::isnan(f));
      REQUIRE(back == (h | 0x0040u));
    } else {
      REQUIRE(back == h);
    }
  }
}

TEST_CASE("bfloat16 conversion of known values", "[reduce]") {
  CHECK(reduce::floatToBfloat16(1.0f) == 0x3F80);
  CHECK(reduce::floatToBfloat16(-2.0f) == 0xC000);
  CHECK(reduce::bfloat16ToFloat(0x3F80) == 1.0f);
  CHECK(reduce::floatToBfloat16(1.0f + 0x1p-8f) == 0x3F80);      // tie, even stays
  CHECK(reduce::floatToBfloat16(1.0f + 3 * 0x1p-8f) == 0x3F82);  // tie, odd goes up
  CHECK(reduce::floatToBfloat16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3F81);
  CHECK(reduce::floatToBfloat16(std::numeric_limits<float>::max()) == 0x7F80);  // overflows
  CHECK(reduce::floatToBfloat16(std::bit_cast<float>(0x7F7F'7FFFu)) == 0x7F7F);
  CHECK(reduce::floatToBfloat16(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(reduce::floatToBfloat16(-std::numeric_limits<float>::infinity()) == 0xFF80);
  // NaNs whose payload would round away or carry must stay NaN.
  CHECK(reduce::floatToBfloat16(std::bit_cast<float>(0x7F80'0001u)) == 0x7FC0);
  CHECK(reduce::floatToBfloat16(std::bit_cast<float>(0xFFFF'FFFFu)) == 0xFFFF);
  CHECK(isNanBfloat16(reduce::floatToBfloat16(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("divideBy divides every type", "[reduce]") {
  std::mt19937_64 rng(42);
  constexpr std::size_t kCount = 1037;  // not a multiple of any vector width
  for (DataType type : kAllTypes) {
    for (int divisor : {1, 2, 3, 7, -1, -3, 300, 100000}) {
      INFO(banyan::toString(type) << " / " << divisor);
      const std::size_t size = banyan::dataTypeSize(type);
      Bytes buffer((kCount + kGuard) * size, kGuardByte);
      for (std::size_t i = 0; i < kCount; ++i) {
        if (isFloating(type)) {
          encode(type, buffer, i, static_cast<std::int64_t>(rng() % 2001) - 1000);
        } else {
          encode(type, buffer, i, randomValue(type, rng));
        }
      }
      if (type == DataType::i16 || type == DataType::i32 || type == DataType::i64) {
        // The one quotient that overflows: it must wrap, not trap.
        encode(type, buffer, 0, type == DataType::i16 ? INT16_MIN : type == DataType::i32 ? INT32_MIN : INT64_MIN);
      }
      const Bytes original = buffer;
      reduce::divideBy(type, buffer.data(), kCount, divisor);
      for (std::size_t i = 0; i < kCount; ++i) {
        INFO("element " << i);
        if (isFloating(type)) {
          const double x = decodeFloat(type, original, i);
          Bytes expected(size);
          switch (type) {
            case DataType::f64: {
              const double q = x / divisor;
              std::memcpy(expected.data(), &q, size);
              break;
            }
            case DataType::f32: {
              const float q = static_cast<float>(x) / static_cast<float>(divisor);
              std::memcpy(expected.data(), &q, size);
              break;
            }
            default: {
              const float q = static_cast<float>(x) / static_cast<float>(divisor);
              const std::uint16_t h = type == DataType::f16 ? reduce::floatToHalf(q) : reduce::floatToBfloat16(q);
              std::memcpy(expected.data(), &h, size);
            }
          }
          REQUIRE(std::memcmp(&buffer[i * size], expected.data(), size) == 0);
        } else {
          const std::int64_t x = decodeInt(type, original, i);
          // Truncating division; -1 is written as a wrapping negation.
          const std::int64_t q =
              divisor == -1 ? static_cast<std::int64_t>(0 - static_cast<std::uint64_t>(x)) : x / divisor;
          Bytes expected(size);
          encode(type, expected, 0, q);
          REQUIRE(decodeInt(type, buffer, i) == decodeInt(type, expected, 0));
        }
      }
      for (std::size_t byte = kCount * size; byte < buffer.size(); ++byte) {
        REQUIRE(buffer[byte] == kGuardByte);
      }
    }
  }
  SECTION("truncation toward zero") {
    std::int32_t v[4] = {7, -7, 5, -5};
    reduce::divideBy(DataType::i32, v, 4, 2);
    CHECK(v[0] == 3);
    CHECK(v[1] == -3);
    CHECK(v[2] == 2);
    CHECK(v[3] == -2);
    std::int8_t w[2] = {-128, 127};
    reduce::divideBy(DataType::i8, w, 2, 3);
    CHECK(w[0] == -42);
    CHECK(w[1] == 42);
  }
}

// The SIMD kernels must be drop-in replacements: feed both paths the same arbitrary bit
// patterns (NaNs, infinities, subnormals, overflowing products) and compare the bits.
TEST_CASE("portable and SIMD 16-bit kernels agree bit for bit", "[reduce]") {
  if (!detail::simdAvailable()) {
    WARN("CPU lacks AVX2/F16C: only the portable path is tested");
    return;
  }
  std::mt19937_64 rng(7);
  constexpr std::size_t kCount = 65536 + 13;
  std::vector<std::uint16_t> a(kCount), b(kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    a[i] = static_cast<std::uint16_t>(i);  // every pattern against random partners
    b[i] = static_cast<std::uint16_t>(rng());
  }
  for (DataType type : {DataType::f16, DataType::bf16}) {
    const auto isNan = type == DataType::f16 ? isNanHalf : isNanBfloat16;
    for (ReduceOp op : kAllOps) {
      INFO(label(type, op));
      const reduce::Kernel portable = detail::kernelForPath(type, op, detail::KernelPath::portable);
      const reduce::Kernel simd = detail::kernelForPath(type, op, detail::KernelPath::simd);
      REQUIRE(simd != nullptr);
      CHECK(reduce::kernelFor(type, op) == simd);
      std::vector<std::uint16_t> p(kCount), s(kCount);
      portable(p.data(), a.data(), b.data(), kCount);
      simd(s.data(), a.data(), b.data(), kCount);
      for (std::size_t i = 0; i < kCount; ++i) {
        INFO(std::hex << "a=0x" << a[i] << " b=0x" << b[i] << " portable=0x" << p[i] << " simd=0x" << s[i]);
        // When both inputs are NaN the compiler may pick either operand's payload
        // for the scalar add, so only NaN-ness is pinned down there.
        if (isNan(a[i]) && isNan(b[i])) {
          REQUIRE(isNan(p[i]));
          REQUIRE(isNan(s[i]));
        } else {
          REQUIRE(p[i] == s[i]);
        }
      }
    }
    for (int divisor : {1, 3, 7, 12, -5}) {
      INFO(banyan::toString(type) << " divideBy " << divisor);
      std::vector<std::uint16_t> p = a, s = a;
      REQUIRE(detail::divideByPath(type, detail::KernelPath::portable, p.data(), kCount, divisor));
      REQUIRE(detail::divideByPath(type, detail::KernelPath::simd, s.data(), kCount, divisor));
      for (std::size_t i = 0; i < kCount; ++i) {
        INFO(std::hex << "x=0x" << a[i]);
        REQUIRE(p[i] == s[i]);
      }
    }
  }
}

TEST_CASE("bitwise ops on every integer type, none on floating point", "[reduce]") {
  for (DataType type : {DataType::f32, DataType::f64, DataType::f16, DataType::bf16}) {
    for (ReduceOp op : {ReduceOp::band, ReduceOp::bor, ReduceOp::bxor}) {
      CHECK(reduce::kernelFor(type, op) == nullptr);
      CHECK_FALSE(banyan::isDefined(type, op));
    }
  }
  const std::uint8_t a[4] = {0xf0, 0x0f, 0xff, 0x00}, b[4] = {0x3c, 0x3c, 0x81, 0x00};
  std::uint8_t r[4];
  reduce::reduce(DataType::u8, ReduceOp::band, r, a, b, 4);
  CHECK((r[0] == 0x30 && r[1] == 0x0c && r[2] == 0x81 && r[3] == 0));
  reduce::reduce(DataType::u8, ReduceOp::bor, r, a, b, 4);
  CHECK((r[0] == 0xfc && r[1] == 0x3f && r[2] == 0xff && r[3] == 0));
  reduce::reduce(DataType::u8, ReduceOp::bxor, r, a, b, 4);
  CHECK((r[0] == 0xcc && r[1] == 0x33 && r[2] == 0x7e && r[3] == 0));
  const std::int64_t x[2] = {-1, 0x5555555555555555}, y[2] = {0x123456789abcdef, -0x5555555555555556};
  std::int64_t z[2];
  reduce::reduce(DataType::i64, ReduceOp::bxor, z, x, y, 2);
  CHECK((z[0] == ~std::int64_t{0x123456789abcdef} && z[1] == -1));
  for (DataType type : {DataType::i8, DataType::u8, DataType::i32, DataType::i64, DataType::i16}) {
    for (ReduceOp op : {ReduceOp::band, ReduceOp::bor, ReduceOp::bxor}) CHECK(reduce::kernelFor(type, op) != nullptr);
  }
}
