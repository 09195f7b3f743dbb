#pragma once
// Integer-valued test data and the exact expected results, independent of banyan's kernels.
// Values stay small (|sum| <= 2 * ranks, |prod| <= 2^ranks) so every dtype holds them exactly,
// and integer wrap-around is computed explicitly.

#include "reduce/reduce.hpp"

#include <banyan/types.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace banyan::test {

// The value rank `rank` contributes at element `index` for `op`.
inline std::int64_t inputValue(ReduceOp op, DataType type, int rank, std::size_t index) {
  const bool isUnsigned = type == DataType::u8;
  const auto mix = static_cast<std::int64_t>((index * 2654435761u + static_cast<std::size_t>(rank) * 40503u) % 1000);
  if (op == ReduceOp::prod) {
    // {1, 2} and (signed types) -1, so products are exact: at most 2^ranks.
    const std::int64_t choices[3] = {1, 2, -1};
    return choices[mix % (isUnsigned ? 2 : 3)];
  }
  return isUnsigned ? mix % 5 : mix % 5 - 2;  // 0..4 or -2..2
}

// Stores `value` (an integer, exact in every type) as element `index` of `buffer`.
inline void storeValue(DataType type, void* buffer, std::size_t index, double value) {
  auto* bytes = static_cast<std::uint8_t*>(buffer);
  switch (type) {
    case DataType::f32: {
      float v = static_cast<float>(value);
      std::memcpy(bytes + index * 4, &v, 4);
      break;
    }
    case DataType::f64: {
      std::memcpy(bytes + index * 8, &value, 8);
      break;
    }
    case DataType::f16: {
      auto h = reduce::floatToHalf(static_cast<float>(value));
      std::memcpy(bytes + index * 2, &h, 2);
      break;
    }
    case DataType::bf16: {
      auto h = reduce::floatToBfloat16(static_cast<float>(value));
      std::memcpy(bytes + index * 2, &h, 2);
      break;
    }
    case DataType::i8: {
      auto v = static_cast<std::int8_t>(static_cast<std::uint8_t>(static_cast<std::int64_t>(value) & 0xff));
      bytes[index] = static_cast<std::uint8_t>(v);
      break;
    }
    case DataType::u8: {
      bytes[index] = static_cast<std::uint8_t>(static_cast<std::int64_t>(value) & 0xff);
      break;
    }
    case DataType::i32: {
      auto v = static_cast<std::int32_t>(static_cast<std::int64_t>(value));
      std::memcpy(bytes + index * 4, &v, 4);
      break;
    }
    case DataType::i64: {
      auto v = static_cast<std::int64_t>(value);
      std::memcpy(bytes + index * 8, &v, 8);
      break;
    }
    case DataType::i16: {
      auto v = static_cast<std::int16_t>(static_cast<std::int64_t>(value));
      std::memcpy(bytes + index * 2, &v, 2);
      break;
    }
  }
}

// The exact expected allreduce result at `index`, stored into `buffer` in the element type.
inline void storeExpected(ReduceOp op, DataType type, int ranks, void* buffer, std::size_t index) {
  std::int64_t sum = 0, prod = 1, lo = 0, hi = 0, all = -1, any = 0, odd = 0;
  for (int r = 0; r < ranks; ++r) {
    const std::int64_t v = inputValue(op, type, r, index);
    sum += v;
    prod *= v;
    lo = r == 0 ? v : std::min(lo, v);
    hi = r == 0 ? v : std::max(hi, v);
    all &= v;
    any |= v;
    odd ^= v;
  }
  switch (op) {
    case ReduceOp::sum:
      storeValue(type, buffer, index, static_cast<double>(sum));
      return;
    case ReduceOp::prod:
      storeValue(type, buffer, index, static_cast<double>(prod));
      return;
    case ReduceOp::min:
      storeValue(type, buffer, index, static_cast<double>(lo));
      return;
    case ReduceOp::max:
      storeValue(type, buffer, index, static_cast<double>(hi));
      return;
    case ReduceOp::band:
      storeValue(type, buffer, index, static_cast<double>(all));
      return;
    case ReduceOp::bor:
      storeValue(type, buffer, index, static_cast<double>(any));
      return;
    case ReduceOp::bxor:
      storeValue(type, buffer, index, static_cast<double>(odd));
      return;
    case ReduceOp::avg:
      break;
  }
  // avg: the sum divided once, in the type's own arithmetic.
  auto* bytes = static_cast<std::uint8_t*>(buffer);
  switch (type) {
    case DataType::f32: {
      float v = static_cast<float>(sum) / static_cast<float>(ranks);
      std::memcpy(bytes + index * 4, &v, 4);
      return;
    }
    case DataType::f64: {
      double v = static_cast<double>(sum) / ranks;
      std::memcpy(bytes + index * 8, &v, 8);
      return;
    }
    case DataType::f16: {
      auto h = reduce::floatToHalf(static_cast<float>(sum) / static_cast<float>(ranks));
      std::memcpy(bytes + index * 2, &h, 2);
      return;
    }
    case DataType::bf16: {
      auto h = reduce::floatToBfloat16(static_cast<float>(sum) / static_cast<float>(ranks));
      std::memcpy(bytes + index * 2, &h, 2);
      return;
    }
    case DataType::i8:
    case DataType::i16:
    case DataType::i32:
    case DataType::i64:
      storeValue(type, buffer, index, static_cast<double>(sum / ranks));
      return;
    case DataType::u8:
      storeValue(type, buffer, index, static_cast<double>(sum / ranks));
      return;
  }
}

inline void fillInput(ReduceOp op, DataType type, int rank, void* buffer, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    storeValue(type, buffer, i, static_cast<double>(inputValue(op, type, rank, i)));
}

}  // namespace banyan::test
