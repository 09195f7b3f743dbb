#pragma once
// The c10d::Work of a banyan operation.
//
// The operation runs asynchronously on banyan's own progress (the communicator's progress
// thread, or the thread that waits). It completes in one of two places, whichever comes
// first, exactly once: on the thread that calls wait() (the fast path of a blocking
// collective, which then never changes threads), or on the process group's completion thread,
// which banyan's completion callback wakes, so that futures complete and DDP's callbacks run
// even when nobody waits. Completing copies results back into non-contiguous or listed
// tensors, marks the Work done, and completes the future with the output tensors (or the
// error, as a RuntimeError carrying banyan's message).

#include "staging.hpp"

#include <banyan/work.hpp>

#include <torch/csrc/distributed/c10d/Work.hpp>

#include <ATen/core/ivalue.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace banyan::torch_backend {

class BanyanWork : public c10d::Work {
 public:
  // `deadline`: the per-operation timeout torch passed (opts.timeout), if any; wait() gives up
  // after it. `source`: for a receive from any rank, how to learn the sender.
  BanyanWork(int rank, c10d::OpType type, std::string name, banyan::Work work, Staging staging,
             std::vector<at::Tensor> outputs, std::optional<std::chrono::milliseconds> deadline,
             std::function<int()> source = {});

  bool isCompleted() override;
  bool wait(std::chrono::milliseconds timeout = kNoTimeout) override;
  std::vector<at::Tensor> result() override { return outputs_; }
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override { return future_; }
  int sourceRank() const override;

  // Ends the c10d side of the operation once banyan's side has finished, with banyan's
  // `error` if it failed. Idempotent and thread-safe: a second caller waits until the first
  // has finished. (The error is passed in because banyan runs completion callbacks before the
  // Work counts as ended, when Work::error() does not report it yet.)
  void complete(const std::optional<banyan::Error>& error);
  const banyan::Work& banyanWork() const { return work_; }
  // Called from banyan's completion callback: true if a thread is inside wait() and will
  // complete this Work itself (then the completion thread need not be woken, which on a busy
  // machine costs a blocking collective a context switch); `error` is kept for that thread.
  bool handToWaiter(const std::optional<banyan::Error>& error);

 private:
  std::string name_;
  banyan::Work work_;
  Staging staging_;
  std::vector<at::Tensor> outputs_;
  std::optional<std::chrono::milliseconds> deadline_;
  std::function<int()> source_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
  std::atomic<bool> completing_{false};
  // Hand-over between banyan's completion callback and threads inside wait().
  std::mutex handoffMutex_;
  int waiters_ = 0;
  bool handedOver_ = false;
  std::optional<banyan::Error> handedError_;
};

// The thread that completes operations nobody waits for. One per process group; it runs
// copies back and future callbacks, which must not run on banyan's progress thread (a callback
// may block on the same communicator).
class Completer {
 public:
  Completer();
  ~Completer();  // completes what is queued, then joins
  // Arranges for `work` to be completed here when its banyan operation ends.
  void watch(const c10::intrusive_ptr<BanyanWork>& work);

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<c10::intrusive_ptr<BanyanWork>, std::optional<banyan::Error>>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace banyan::torch_backend
