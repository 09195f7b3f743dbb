#include <banyan/compression.hpp>
#include <banyan/types.hpp>

#include <array>

namespace banyan {
namespace {

struct TypeInfo {
  std::string_view name;
  std::size_t size;
};
constexpr std::array<TypeInfo, kDataTypeCount> kTypes{{
    {"f32", 4},
    {"f64", 8},
    {"f16", 2},
    {"bf16", 2},
    {"i8", 1},
    {"u8", 1},
    {"i32", 4},
    {"i64", 8},
    {"i16", 2},
}};
constexpr std::array<std::string_view, kReduceOpCount> kOps{
    {"sum", "prod", "min", "max", "avg", "band", "bor", "bxor"}};

}  // namespace

bool isValid(DataType type) noexcept { return static_cast<unsigned>(type) < kTypes.size(); }
bool isValid(ReduceOp op) noexcept { return static_cast<unsigned>(op) < kOps.size(); }

bool isDefined(DataType type, ReduceOp op) noexcept {
  if (!isValid(type) || !isValid(op)) return false;
  const bool bitwise = op == ReduceOp::band || op == ReduceOp::bor || op == ReduceOp::bxor;
  const bool integer = type == DataType::i8 || type == DataType::u8 || type == DataType::i32 || type == DataType::i64 ||
                       type == DataType::i16;
  return !bitwise || integer;
}

std::size_t dataTypeSize(DataType type) noexcept {
  return isValid(type) ? kTypes[static_cast<unsigned>(type)].size : 0;
}

std::string_view toString(DataType type) noexcept {
  return isValid(type) ? kTypes[static_cast<unsigned>(type)].name : "invalid-dtype";
}

std::string_view toString(ReduceOp op) noexcept { return isValid(op) ? kOps[static_cast<unsigned>(op)] : "invalid-op"; }

std::optional<DataType> parseDataType(std::string_view name) noexcept {
  for (unsigned i = 0; i < kTypes.size(); ++i) {
    if (kTypes[i].name == name) return static_cast<DataType>(i);
  }
  // The spellings nccl-tests and PyTorch users type.
  if (name == "float" || name == "float32") return DataType::f32;
  if (name == "double" || name == "float64") return DataType::f64;
  if (name == "half" || name == "float16") return DataType::f16;
  if (name == "bfloat16") return DataType::bf16;
  if (name == "int8") return DataType::i8;
  if (name == "uint8") return DataType::u8;
  if (name == "int" || name == "int32") return DataType::i32;
  if (name == "int64") return DataType::i64;
  if (name == "int16" || name == "short") return DataType::i16;
  return std::nullopt;
}

std::optional<ReduceOp> parseReduceOp(std::string_view name) noexcept {
  for (unsigned i = 0; i < kOps.size(); ++i) {
    if (kOps[i] == name) return static_cast<ReduceOp>(i);
  }
  return std::nullopt;
}

namespace {
constexpr std::array<std::string_view, 4> kCompressionFormats{{"none", "bf16", "fp16", "int8"}};
}  // namespace

std::string_view toString(CompressionFormat format) noexcept {
  const auto index = static_cast<std::size_t>(format);
  return index < kCompressionFormats.size() ? kCompressionFormats[index] : "invalid-compression";
}

std::optional<CompressionFormat> parseCompressionFormat(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kCompressionFormats.size(); ++i) {
    if (kCompressionFormats[i] == name) return static_cast<CompressionFormat>(i);
  }
  if (name == "f16" || name == "half" || name == "float16") return CompressionFormat::fp16;
  if (name == "bfloat16") return CompressionFormat::bf16;
  return std::nullopt;
}

}  // namespace banyan
