#pragma once
// Argument checks shared by the collectives; each throws a RuntimeError naming the
// collective, the argument and what is wrong with it.

#include "elements.hpp"
#include "errors.hpp"

#include <ATen/ATen.h>

#include <vector>

namespace banyan::torch_backend {

// A defined, dense (strided) CPU tensor.
inline void checkDense(const at::Tensor& t, const char* op, const char* what) {
  if (!t.defined()) throwError("{}: {} is an undefined tensor", op, what);
  if (!t.device().is_cpu()) {
    throwError("{}: {} is on {}; the banyan backend takes CPU tensors", op, what, t.device().str());
  }
  if (t.layout() != at::kStrided) {
    throwError("{}: {} has layout {}; the banyan backend takes dense (strided) tensors, not sparse ones", op, what,
               c10::toString(t.layout()));
  }
}

// The one tensor of a per-process list (lists of several are torch's multi-GPU form).
inline at::Tensor& single(std::vector<at::Tensor>& tensors, const char* op, const char* what) {
  if (tensors.size() != 1) {
    throwError("{}: {} must hold exactly one tensor per process, got {} (several are for multi-GPU processes)", op,
               what, tensors.size());
  }
  checkDense(tensors[0], op, what);
  return tensors[0];
}

inline void checkSameType(const at::Tensor& t, const at::Tensor& reference, const char* op, const char* what) {
  if (t.scalar_type() != reference.scalar_type()) {
    throwError("{}: {} has dtype {} but the input has {}", op, what, c10::toString(t.scalar_type()),
               c10::toString(reference.scalar_type()));
  }
}

inline void checkNumel(const at::Tensor& t, int64_t expected, const char* op, const char* what) {
  if (t.numel() != expected) {
    throwError("{}: {} has {} elements, expected {}", op, what, t.numel(), expected);
  }
}

// Every tensor of `list` dense, with `reference`'s dtype and `numel` elements.
inline void checkList(const std::vector<at::Tensor>& list, std::size_t length, const at::Tensor& reference,
                      int64_t numel, const char* op, const char* what) {
  if (list.size() != length)
    throwError("{}: {} must hold {} tensors (one per rank), got {}", op, what, length, list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string name = std::string(what) + "[" + std::to_string(i) + "]";
    checkDense(list[i], op, name.c_str());
    checkSameType(list[i], reference, op, name.c_str());
    checkNumel(list[i], numel, op, name.c_str());
  }
}

}  // namespace banyan::torch_backend
