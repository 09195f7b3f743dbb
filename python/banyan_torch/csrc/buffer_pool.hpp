#pragma once
// Receive buffers that a process group keeps from one operation to the next.
//
// A sparse all_reduce receives every rank's values into a buffer as large as the whole result
// (megabytes for an embedding gradient), once per training step. A fresh buffer each time
// costs more than the exchange: glibc hands large blocks back to the kernel when they are
// freed, so every call faults its pages in again, and a page fault is slow on a VM (measured
// with bench/torch.sh, 2 ranks, 1M x 64 table, 1% rows: 45 ms per call with a fresh buffer,
// 7-13 ms with a reused one, gloo 12-40 ms in the same runs). The pool keeps a few buffers;
// one is free again once no tensor views it any more, which is when its operation has ended.

#include <ATen/ATen.h>

#include <cstddef>
#include <mutex>
#include <vector>

namespace banyan::torch_backend {

class BufferPool {
 public:
  // An uninitialized contiguous tensor of `shape` and `options`, viewing a pooled buffer
  // when one is free and large enough (or can be replaced by a larger one), a new unpooled
  // tensor otherwise (every pooled buffer is in use).
  at::Tensor take(at::IntArrayRef shape, const at::TensorOptions& options) {
    int64_t numel = 1;
    for (int64_t s : shape) numel *= s;
    const auto bytes = static_cast<int64_t>(numel * static_cast<int64_t>(options.dtype().itemsize()));
    if (bytes == 0) return at::empty(shape, options);
    std::lock_guard<std::mutex> lock(mutex_);
    at::Tensor* chosen = nullptr;
    for (auto& buffer : buffers_) {
      // Only the pool's own reference left: no operation uses it.
      if (buffer.storage().use_count() != 1) continue;
      if (buffer.numel() >= bytes) return view(buffer, bytes, shape, options);
      chosen = &buffer;
    }
    // An eighth more than asked, so that a step whose nnz grows a little reuses it.
    const at::Tensor fresh = at::empty({bytes + bytes / 8}, at::TensorOptions().dtype(at::kByte));
    if (chosen != nullptr) {
      *chosen = fresh;  // a free buffer too small: replaced
    } else if (buffers_.size() < kMaxBuffers) {
      buffers_.push_back(fresh);
    }
    return view(fresh, bytes, shape, options);
  }

 private:
  // Most programs have one sparse all_reduce in flight per group (DDP: one sparse bucket).
  static constexpr std::size_t kMaxBuffers = 2;

  static at::Tensor view(const at::Tensor& buffer, int64_t bytes, at::IntArrayRef shape,
                         const at::TensorOptions& options) {
    return buffer.narrow(0, 0, bytes).view(options.dtype().toScalarType()).view(shape);
  }

  std::mutex mutex_;
  std::vector<at::Tensor> buffers_;  // 1-D uint8
};

}  // namespace banyan::torch_backend
