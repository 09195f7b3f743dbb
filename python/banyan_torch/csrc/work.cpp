#include "work.hpp"

#include "errors.hpp"

#include <ATen/core/jit_type.h>

namespace banyan::torch_backend {

BanyanWork::BanyanWork(int rank, c10d::OpType type, std::string name, banyan::Work work, Staging staging,
                       std::vector<at::Tensor> outputs, std::optional<std::chrono::milliseconds> deadline,
                       std::function<int()> source)
    : c10d::Work(rank, type),
      name_(std::move(name)),
      work_(std::move(work)),
      staging_(std::move(staging)),
      outputs_(std::move(outputs)),
      deadline_(deadline),
      source_(std::move(source)),
      future_(c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()))) {}

bool BanyanWork::isCompleted() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (completed_) return true;
  }
  if (!work_.test()) return false;
  complete(work_.error());
  return true;
}

bool BanyanWork::handToWaiter(const std::optional<banyan::Error>& error) {
  std::lock_guard<std::mutex> lock(handoffMutex_);
  if (waiters_ == 0) return false;
  handedOver_ = true;
  handedError_ = error;
  return true;
}

bool BanyanWork::wait(std::chrono::milliseconds timeout) {
  std::optional<std::chrono::milliseconds> limit = deadline_;
  if (timeout != kNoTimeout) limit = timeout;
  {
    std::lock_guard<std::mutex> lock(handoffMutex_);
    ++waiters_;
  }
  bool ended = true;
  if (limit) {
    ended = work_.waitFor(*limit);
  } else {
    try {
      work_.wait();
    } catch (const std::exception&) {
      // The Work has ended: complete() reads the same error from it and stores it for below.
    }
  }
  bool handed = false;
  std::optional<banyan::Error> handedError;
  {
    std::lock_guard<std::mutex> lock(handoffMutex_);
    --waiters_;
    handed = handedOver_;
    handedError = handedError_;
  }
  if (ended) {
    complete(work_.error());
  } else if (handed) {
    complete(handedError);  // it ended just as the wait gave up: the callback passed it here
  } else {
    throwError("{} (rank {}) did not complete within the {} ms wait timeout; it is still running", name_, rank_,
               limit->count());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (exception_) std::rethrow_exception(exception_);
  return true;
}

int BanyanWork::sourceRank() const {
  if (!source_) throwError("sourceRank() is only defined for recv_anysource, not {}", name_);
  return source_();
}

void BanyanWork::complete(const std::optional<banyan::Error>& error) {
  if (completing_.exchange(true)) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return completed_; });
    return;
  }
  std::exception_ptr failure;
  if (error) {
    failure = std::make_exception_ptr(std::runtime_error(error->what()));
  } else {
    try {
      staging_.finish();
    } catch (const std::exception& e) {
      failure = std::make_exception_ptr(
          std::runtime_error("banyan: " + name_ + ": copying the result into the output tensors failed: " + e.what()));
    }
  }
  staging_.release();
  finish(failure);
  // Future callbacks run inside these calls; one that throws must not take down the thread
  // completing the operation (the future records its own error for chained futures).
  try {
    if (failure) {
      future_->setError(failure);
    } else {
      future_->markCompleted(c10::IValue(outputs_));
    }
  } catch (const std::exception&) {
  }
}

Completer::Completer() : thread_([this] { run(); }) {}

Completer::~Completer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Completer::watch(const c10::intrusive_ptr<BanyanWork>& work) {
  // The callback holds the Work until it has been handed over; banyan runs it when the
  // operation ends, at the latest by the communicator's deadline or close().
  work->banyanWork().then([this, work](const std::optional<banyan::Error>& error) {
    if (work->handToWaiter(error)) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.emplace_back(work, error);
    }
    wake_.notify_one();
  });
}

void Completer::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left
    auto [work, error] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    work->complete(error);  // complete() does not throw
    work.reset();
    lock.lock();
  }
}

}  // namespace banyan::torch_backend
