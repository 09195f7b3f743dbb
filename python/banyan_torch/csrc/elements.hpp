#pragma once
// How torch tensors and reduce ops map onto banyan's element types and operators.
//
// - Every real CPU dtype maps to one banyan DataType (int16 to i16).
// - bool is stored as bytes 0/1 and reduced as u8 with the op that keeps it boolean, which is
//   what gloo does with C++ bool arithmetic: SUM and MAX are "or" (u8 max), PRODUCT and MIN are
//   "and" (u8 min), BAND/BOR/BXOR are bitwise on 0/1. AVG and PREMUL_SUM have no bool meaning.
// - complex is a pair of reals (complex32/64/128 -> 2 x f16/f32/f64), which is exact for the
//   element-wise ops SUM, AVG and PREMUL_SUM; PRODUCT, MIN, MAX and the bitwise ops are not
//   element-wise on the pairs (or not defined) and raise an error naming the case.
// - PREMUL_SUM (torch.distributed._make_nccl_premul_sum) is banyan's premultiplied sum
//   (Reduction::premulSum); the factor is a number or a one-element tensor.

#include <banyan/types.hpp>

#include <torch/csrc/distributed/c10d/Types.hpp>

#include <ATen/ATen.h>

#include <optional>
#include <string>

namespace banyan::torch_backend {

struct Elements {
  DataType type = DataType::f32;
  int perElement = 1;  // banyan elements per torch element: 2 for complex
  bool isBool = false;
  bool isComplex = false;
  bool isInteger = false;
};

// The banyan view of `tensor`'s dtype; throws naming `op` for a dtype banyan cannot carry
// (quantized types, ...).
Elements elementsOf(const at::Tensor& tensor, const char* op);
// Number of banyan elements in `tensor`.
std::size_t countOf(const at::Tensor& tensor, const Elements& elements);

// The banyan reduction for torch's `op` on `elements`; throws naming the op, the dtype and
// the collective `opName` for a combination that has no meaning there.
Reduction reductionOf(const c10d::ReduceOp& op, const Elements& elements, const at::Tensor& tensor, const char* opName);

std::string reduceOpName(const c10d::ReduceOp& op);

}  // namespace banyan::torch_backend
