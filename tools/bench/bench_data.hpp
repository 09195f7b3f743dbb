#pragma once
// Input data and result checks of the benchmarks (-c 1).
//
// Every input is a small integer chosen from (rank, index) so that the exact result of each
// operation is a small integer too: exact in every element type, including f16, bf16 and i8,
// whatever order the library reduces in. Header-only so that banyan-bench and banyan-bench-mpi
// share it without another library.

#include "tools/bench/bench_args.hpp"
#include "tools/bench/digest.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace banyan::bench {

// Storage types for the two 16-bit floats; only conversions, no arithmetic.
struct Half {
  std::uint16_t bits;
};
struct BFloat16 {
  std::uint16_t bits;
};

inline float halfToFloat(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float value = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -value : value;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf, NaN
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

// Round to nearest even, as hardware conversions do.
inline std::uint16_t floatToHalf(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (absx >= 0x47800000u) return sign | 0x7c00u;  // >= 65536: infinity
  if (absx < 0x38800000u) {                        // below 2^-14: subnormal half
    const float scaled = std::bit_cast<float>(absx) * 16777216.0f;
    return sign | static_cast<std::uint16_t>(std::nearbyint(scaled));
  }
  std::uint32_t h = ((((absx >> 23) - 112) << 10) | ((absx >> 13) & 0x3ffu));
  const std::uint32_t rest = absx & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into infinity: right
  return static_cast<std::uint16_t>(sign | h);
}

inline float bfloat16ToFloat(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t{b} << 16); }

inline std::uint16_t floatToBFloat16(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);  // NaN
  return static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

template <typename T>
inline double asDouble(T value) {
  return static_cast<double>(value);
}
template <>
inline double asDouble(Half value) {
  return halfToFloat(value.bits);
}
template <>
inline double asDouble(BFloat16 value) {
  return bfloat16ToFloat(value.bits);
}

template <typename T>
inline T fromInt(int value) {
  return static_cast<T>(value);
}
template <>
inline Half fromInt(int value) {
  return Half{floatToHalf(static_cast<float>(value))};
}
template <>
inline BFloat16 fromInt(int value) {
  return BFloat16{floatToBFloat16(static_cast<float>(value))};
}

// Calls fn.template operator()<T>() with the storage type of `type`.
template <typename Fn>
decltype(auto) visitDataType(DataType type, Fn&& fn) {
  switch (type) {
    case DataType::f32:
      return fn.template operator()<float>();
    case DataType::f64:
      return fn.template operator()<double>();
    case DataType::f16:
      return fn.template operator()<Half>();
    case DataType::bf16:
      return fn.template operator()<BFloat16>();
    case DataType::i8:
      return fn.template operator()<std::int8_t>();
    case DataType::u8:
      return fn.template operator()<std::uint8_t>();
    case DataType::i32:
      return fn.template operator()<std::int32_t>();
    case DataType::i64:
      return fn.template operator()<std::int64_t>();
    case DataType::i16:
      return fn.template operator()<std::int16_t>();
  }
  throw std::invalid_argument("invalid data type");
}

// -D 1's inputs: mixedValue(seed, rank, i) in the buffer's floating type (rounded to it).
inline void fillMixed(void* buffer, std::size_t count, DataType type, int rank, std::uint64_t seed = 1) {
  visitDataType(type, [&]<typename T>() {
    T* out = static_cast<T*>(buffer);
    for (std::size_t i = 0; i < count; ++i) {
      const double value = mixedValue(seed, rank, i);
      if constexpr (std::is_same_v<T, Half>) {
        out[i] = Half{floatToHalf(static_cast<float>(value))};
      } else if constexpr (std::is_same_v<T, BFloat16>) {
        out[i] = BFloat16{floatToBFloat16(static_cast<float>(value))};
      } else if constexpr (std::is_floating_point_v<T>) {
        out[i] = static_cast<T>(value);
      } else {
        throw std::invalid_argument("mixed-magnitude inputs need a floating type");
      }
    }
  });
}

// The values. `rank` of `nranks` contributes inputValue(rank, i) at index i of its send buffer;
// the correct result at index i of a rank's result buffer is expectedValue(i, ...). Reductions
// stay within 0..127 (i8) for up to ~25 ranks (avg) and 120 ranks (sum); larger jobs would need
// the i8 cases revisited. Collectives that only move data use copyValue, which differs between
// ranks and between neighbouring indices, so a block from the wrong rank or offset is caught.
class DataPattern {
 public:
  DataPattern(Collective collective, ReduceOp op, int nranks, int root = 0)
      : collective_(collective), op_(op), nranks_(nranks), root_(root) {
    // sum: values (rank + i) % modulus; the modulus shrinks for large jobs so the sum of
    // nranks values stays within i8 range.
    modulus_ = std::clamp(120 / std::max(nranks_, 1) + 1, 1, 4);
    sumByResidue_.assign(static_cast<std::size_t>(modulus_), 0);
    for (int res = 0; res < modulus_; ++res) {
      for (int r = 0; r < nranks_; ++r) sumByResidue_[static_cast<std::size_t>(res)] += (r + res) % modulus_;
    }
  }

  static int copyValue(std::size_t rank, std::size_t i) { return static_cast<int>((3 * rank + i) % 101); }

  int inputValue(int rank, std::size_t i) const {
    const auto n = static_cast<std::size_t>(nranks_);
    const auto r = static_cast<std::size_t>(rank);
    if (!reduces(collective_)) return copyValue(r, i);
    switch (op_) {
      case ReduceOp::sum:
        return static_cast<int>((r + i) % static_cast<std::size_t>(modulus_));
      case ReduceOp::prod:  // one rank holds a 2 at every other group of indices, the rest 1
        return (i % n == r && (i / n) % 2 == 0) ? 2 : 1;
      case ReduceOp::min:  // the rank with (r + i) % n == 0 holds the minimum i % 5
        return static_cast<int>(i % 5) + ((r + i) % n == 0 ? 0 : 1 + rank % 3);
      case ReduceOp::max:  // ... and here the maximum i % 5 + 3; the others hold less
        return static_cast<int>(i % 5) + ((r + i) % n == 0 ? 3 : rank % 3);
      case ReduceOp::avg: {
        // i % 4 + 1 plus +1/-1 in rank pairs that cancel (the last rank of an odd job adds 0):
        // the sum is divisible by nranks, so the average is exact even for integer types.
        const int paired = nranks_ - nranks_ % 2;
        const int offset = rank < paired ? (rank % 2 == 0 ? 1 : -1) : 0;
        return static_cast<int>(i % 4) + 1 + offset;
      }
      // Bitwise (integer types): the rank with i % n == r differs from the others in one bit
      // (band, bor) or alone holds a value (bxor); every value fits i8.
      case ReduceOp::band:
        return 0x7f & ~(i % n == r ? 1 << (i % 7) : 0);
      case ReduceOp::bor:
        return i % n == r ? 1 << (i % 7) : 0;
      case ReduceOp::bxor:
        return i % n == r ? static_cast<int>(i % 7) + 1 : 0;
    }
    return 0;
  }

  // Index i of the result on `rank`; `block` is the call's count (per rank, block or peer).
  int expectedValue(std::size_t i, std::size_t block, int rank = 0) const {
    const auto r = static_cast<std::size_t>(rank);
    const auto root = static_cast<std::size_t>(root_);
    switch (collective_) {
      case Collective::allgather:
      case Collective::gather:
        return copyValue(i / block, i % block);
      case Collective::broadcast:
        return copyValue(root, i);
      case Collective::scatter:
        return copyValue(root, r * block + i);
      case Collective::alltoall:
        return copyValue(i / block, r * block + i % block);
      case Collective::reduce_scatter:
        return reducedValue(r * block + i);
      case Collective::allreduce:
      case Collective::reduce:
        return reducedValue(i);
      case Collective::sendrecv:  // what the previous rank sent
        return copyValue((r + static_cast<std::size_t>(nranks_) - 1) % static_cast<std::size_t>(nranks_), i);
    }
    return 0;
  }

  // Writes this rank's inputs for indices [0, count) into `buffer`.
  void fillInput(void* buffer, std::size_t count, DataType type, int rank) const {
    visitDataType(type, [&]<typename T>() {
      T* out = static_cast<T*>(buffer);
      for (std::size_t i = 0; i < count; ++i) out[i] = fromInt<T>(inputValue(rank, i));
    });
  }

  // Number of the `total` elements of `result` (rank `rank`'s result buffer) that differ from
  // the expected values.
  std::int64_t countWrong(const void* result, std::size_t total, std::size_t countPerRank, DataType type,
                          int rank = 0) const {
    // avg divides in floating point; a library may multiply by 1/n instead, which can be an
    // ulp off. Everything else is exact.
    double tolerance = 0;
    if (reduces(collective_) && op_ == ReduceOp::avg) {
      if (type == DataType::f32) tolerance = 1e-6;
      if (type == DataType::f64) tolerance = 1e-12;
      if (type == DataType::f16) tolerance = 5e-3;
      if (type == DataType::bf16) tolerance = 2e-2;
    }
    return visitDataType(type, [&]<typename T>() {
      const T* in = static_cast<const T*>(result);
      std::int64_t wrong = 0;
      for (std::size_t i = 0; i < total; ++i) {
        const double expected = expectedValue(i, countPerRank, rank);
        const double got = asDouble(in[i]);
        // Written so that NaN counts as wrong.
        if (!(std::fabs(got - expected) <= tolerance * expected)) ++wrong;
      }
      return wrong;
    });
  }

 private:
  int reducedValue(std::size_t i) const {
    const auto n = static_cast<std::size_t>(nranks_);
    switch (op_) {
      case ReduceOp::sum:
        return sumByResidue_[i % static_cast<std::size_t>(modulus_)];
      case ReduceOp::prod:
        return (i / n) % 2 == 0 ? 2 : 1;
      case ReduceOp::min:
        return static_cast<int>(i % 5);
      case ReduceOp::max:
        return static_cast<int>(i % 5) + 3;
      case ReduceOp::avg:
        return static_cast<int>(i % 4) + 1;
      case ReduceOp::band:
        return 0x7f & ~(1 << (i % 7));
      case ReduceOp::bor:
        return 1 << (i % 7);
      case ReduceOp::bxor:
        return static_cast<int>(i % 7) + 1;
    }
    return 0;
  }

  Collective collective_;
  ReduceOp op_;
  int nranks_;
  int root_;
  int modulus_ = 4;
  std::vector<int> sumByResidue_;
};

}  // namespace banyan::bench
