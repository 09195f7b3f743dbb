#pragma once
// The contiguous buffers an operation runs on, and what happens to them when it ends.
//
// banyan works on raw contiguous memory; torch hands over tensors that may be non-contiguous
// views, lists of tensors, or both. A Staging gives the operation contiguous buffers (the
// tensor itself when it is already contiguous, a copy otherwise), keeps every buffer alive
// until the operation ends, and at the end copies results back into tensors that were not
// used directly. The copies run once, on whichever thread completes the operation.

#include <ATen/ATen.h>

#include <functional>
#include <utility>
#include <vector>

namespace banyan::torch_backend {

class Staging {
 public:
  // A contiguous buffer holding `tensor`'s values that the operation reads and overwrites;
  // the result is copied back into `tensor` if the buffer is a copy.
  at::Tensor inOut(const at::Tensor& tensor);
  // A contiguous buffer holding `tensor`'s values that the operation only reads.
  at::Tensor input(const at::Tensor& tensor);
  // A contiguous buffer the operation writes `tensor`'s result into (its old values unread).
  at::Tensor output(const at::Tensor& tensor);
  // A new 1-D buffer: the tensors' values, flattened, one after another.
  at::Tensor packed(const std::vector<at::Tensor>& tensors);
  // A new 1-D buffer of `numel` elements of `like`'s dtype, copied at the end into `targets`
  // in order (targets[i] takes the next targets[i].numel() elements).
  at::Tensor unpacked(const std::vector<at::Tensor>& targets, const at::Tensor& like, std::int64_t numel);
  // At the end, copies consecutive slices of the 1-D `flat`, from `offset`, into `targets`.
  void unpackInto(const std::vector<at::Tensor>& targets, const at::Tensor& flat, std::int64_t offset = 0);
  // Keeps `tensor` alive until the operation ends.
  void keep(const at::Tensor& tensor) { keep_.push_back(tensor); }
  // Runs `step` at the end of a successful operation, after the copies back: for a result
  // that is computed from what arrived rather than copied (sparse all_reduce).
  void then(std::function<void()> step) { steps_.push_back(std::move(step)); }

  // Runs the copies back and then the steps (at the end of a successful operation), once.
  void finish();
  // Drops every buffer.
  void release();

 private:
  std::vector<at::Tensor> keep_;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies_;  // (destination, source)
  std::vector<std::function<void()>> steps_;
};

}  // namespace banyan::torch_backend
