#pragma once
// Element types and reduction operators understood by every collective.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace banyan {

// New types are appended: the numbering is part of the wire format and of saved configurations.
enum class DataType : std::uint8_t { f32, f64, f16, bf16, i8, u8, i32, i64, i16 };
inline constexpr int kDataTypeCount = 9;

// band, bor, bxor: bitwise and, or, xor, on the integer types only (as PyTorch's BAND, BOR,
// BXOR); a floating-point type with one of them is an InvalidUsage error.
enum class ReduceOp : std::uint8_t { sum, prod, min, max, avg, band, bor, bxor };
inline constexpr int kReduceOpCount = 8;

// What a reducing collective (allreduce, reduce, reduceScatter) combines with: a ReduceOp (it
// converts implicitly), or a premultiplied sum, where every rank's input is scaled by `factor`
// and the scaled values are summed, as PyTorch's PREMUL_SUM and ncclRedOpCreatePreMulSum do
// (used to average gradients without a division afterwards). Premultiplied sums take the
// floating-point types only; the factor must be finite.
class Reduction {
 public:
  Reduction(ReduceOp op) noexcept : op_(op) {}  // NOLINT: implicit on purpose
  static Reduction premulSum(double factor) noexcept {
    Reduction r(ReduceOp::sum);
    r.premultiplied_ = true;
    r.factor_ = factor;
    return r;
  }
  ReduceOp op() const noexcept { return op_; }  // sum for a premultiplied sum
  bool premultiplied() const noexcept { return premultiplied_; }
  double factor() const noexcept { return factor_; }  // 1 unless premultiplied

 private:
  ReduceOp op_;
  bool premultiplied_ = false;
  double factor_ = 1;
};

// The DataType of a C++ element type, for the typed (std::span) overloads. f16 and bf16 have no
// standard C++ type before C++23; use the pointer overloads for them.
template <typename T>
struct DataTypeOf;
template <>
struct DataTypeOf<float> {
  static constexpr DataType value = DataType::f32;
};
template <>
struct DataTypeOf<double> {
  static constexpr DataType value = DataType::f64;
};
template <>
struct DataTypeOf<std::int8_t> {
  static constexpr DataType value = DataType::i8;
};
template <>
struct DataTypeOf<std::uint8_t> {
  static constexpr DataType value = DataType::u8;
};
template <>
struct DataTypeOf<std::int32_t> {
  static constexpr DataType value = DataType::i32;
};
template <>
struct DataTypeOf<std::int64_t> {
  static constexpr DataType value = DataType::i64;
};
template <>
struct DataTypeOf<std::int16_t> {
  static constexpr DataType value = DataType::i16;
};

// Size of one element in bytes; 0 for a value outside the enum.
std::size_t dataTypeSize(DataType type) noexcept;

// True when `type` / `op` is one of the enumerators (values cast from integers may not be).
bool isValid(DataType type) noexcept;
bool isValid(ReduceOp op) noexcept;
// Whether `op` is defined on `type` (bitwise ops need an integer type).
bool isDefined(DataType type, ReduceOp op) noexcept;

// Short lower-case names ("f32", "sum"), as used in messages, flags and benchmark output.
std::string_view toString(DataType type) noexcept;
std::string_view toString(ReduceOp op) noexcept;
std::optional<DataType> parseDataType(std::string_view name) noexcept;
std::optional<ReduceOp> parseReduceOp(std::string_view name) noexcept;

}  // namespace banyan
