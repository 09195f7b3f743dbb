#include "elements.hpp"

#include "errors.hpp"

namespace banyan::torch_backend {

Elements elementsOf(const at::Tensor& tensor, const char* op) {
  Elements e;
  switch (tensor.scalar_type()) {
    case at::kFloat:
      e.type = DataType::f32;
      break;
    case at::kDouble:
      e.type = DataType::f64;
      break;
    case at::kHalf:
      e.type = DataType::f16;
      break;
    case at::kBFloat16:
      e.type = DataType::bf16;
      break;
    case at::kChar:
      e.type = DataType::i8;
      e.isInteger = true;
      break;
    case at::kByte:
      e.type = DataType::u8;
      e.isInteger = true;
      break;
    case at::kShort:
      e.type = DataType::i16;
      e.isInteger = true;
      break;
    case at::kInt:
      e.type = DataType::i32;
      e.isInteger = true;
      break;
    case at::kLong:
      e.type = DataType::i64;
      e.isInteger = true;
      break;
    case at::kBool:
      e.type = DataType::u8;
      e.isBool = true;
      break;
    case at::kComplexHalf:
      e.type = DataType::f16;
      e.perElement = 2;
      e.isComplex = true;
      break;
    case at::kComplexFloat:
      e.type = DataType::f32;
      e.perElement = 2;
      e.isComplex = true;
      break;
    case at::kComplexDouble:
      e.type = DataType::f64;
      e.perElement = 2;
      e.isComplex = true;
      break;
    default:
      throwError(
          "{}: dtype {} is not supported by the banyan backend (it carries bool, integer, "
          "floating and complex tensors)",
          op, c10::toString(tensor.scalar_type()));
  }
  return e;
}

std::size_t countOf(const at::Tensor& tensor, const Elements& elements) {
  return static_cast<std::size_t>(tensor.numel()) * static_cast<std::size_t>(elements.perElement);
}

std::string reduceOpName(const c10d::ReduceOp& op) {
  switch (op.op_) {
    case c10d::ReduceOp::SUM:
      return "SUM";
    case c10d::ReduceOp::AVG:
      return "AVG";
    case c10d::ReduceOp::PRODUCT:
      return "PRODUCT";
    case c10d::ReduceOp::MIN:
      return "MIN";
    case c10d::ReduceOp::MAX:
      return "MAX";
    case c10d::ReduceOp::BAND:
      return "BAND";
    case c10d::ReduceOp::BOR:
      return "BOR";
    case c10d::ReduceOp::BXOR:
      return "BXOR";
    case c10d::ReduceOp::PREMUL_SUM:
      return "PREMUL_SUM";
    default:
      return "ReduceOp(" + std::to_string(static_cast<int>(op.op_)) + ")";
  }
}

Reduction reductionOf(const c10d::ReduceOp& op, const Elements& e, const at::Tensor& tensor, const char* opName) {
  const auto refuse = [&](const char* why) {
    throwError("{}: ReduceOp.{} is not supported on {} tensors by the banyan backend: {}", opName, reduceOpName(op),
               c10::toString(tensor.scalar_type()), why);
  };
  const bool bitwise =
      op.op_ == c10d::ReduceOp::BAND || op.op_ == c10d::ReduceOp::BOR || op.op_ == c10d::ReduceOp::BXOR;
  if (e.isComplex && op.op_ != c10d::ReduceOp::SUM && op.op_ != c10d::ReduceOp::AVG &&
      op.op_ != c10d::ReduceOp::PREMUL_SUM) {
    refuse("complex tensors are reduced as pairs of reals, which is only right for SUM, AVG and PREMUL_SUM");
  }
  if (bitwise && !e.isInteger && !e.isBool) refuse("bitwise ops need integer or bool tensors");
  switch (op.op_) {
    case c10d::ReduceOp::SUM:
      return e.isBool ? ReduceOp::max : ReduceOp::sum;
    case c10d::ReduceOp::AVG:
      if (e.isBool) refuse("the average of booleans is not a boolean");
      return ReduceOp::avg;
    case c10d::ReduceOp::PRODUCT:
      return e.isBool ? ReduceOp::min : ReduceOp::prod;
    case c10d::ReduceOp::MIN:
      return ReduceOp::min;
    case c10d::ReduceOp::MAX:
      return ReduceOp::max;
    case c10d::ReduceOp::BAND:
      return ReduceOp::band;
    case c10d::ReduceOp::BOR:
      return ReduceOp::bor;
    case c10d::ReduceOp::BXOR:
      return ReduceOp::bxor;
    case c10d::ReduceOp::PREMUL_SUM: {
      if (e.isBool || e.isInteger) refuse("the factor is a real number; use a floating or complex tensor");
      const auto* supplement = dynamic_cast<const c10d::NCCLPreMulSumSupplement*>(op.supplement_.get());
      if (supplement == nullptr) refuse("the op carries no factor (make it with _make_nccl_premul_sum)");
      if (!supplement->tensor_factors.empty()) {
        const at::Tensor& factor = supplement->tensor_factors.front();
        if (factor.numel() != 1 || !factor.device().is_cpu()) refuse("a tensor factor must be one CPU element");
        return Reduction::premulSum(factor.item<double>());
      }
      return Reduction::premulSum(supplement->double_factor);
    }
    default:
      refuse("unknown reduce op");
  }
  return ReduceOp::sum;  // not reached: refuse() throws
}

}  // namespace banyan::torch_backend
