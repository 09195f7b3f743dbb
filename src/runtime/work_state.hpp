#pragma once
// The shared state behind banyan::Work: completed once, by the progress thread, and waited
// on by any number of user threads (condition variable: waiting never spins).

#include "common/status.hpp"

#include <banyan/work.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace banyan::detail {

class WorkState {
 public:
  // `deadline`: by when the runtime promises to have ended the operation (its timeout plus
  // slack); a wait that outlives it reports the runtime itself as stuck.
  // `spin`: how long a waiter polls before it sleeps on the condition variable.
  WorkState(std::chrono::steady_clock::time_point deadline, std::chrono::microseconds spin)
      : deadline_(deadline), spin_(spin) {}

  // First call wins; later calls are ignored.
  void complete(const Status& status);

  bool done() const { return doneFlag_.load(std::memory_order_acquire); }
  // Waits until done or `until`; returns done().
  bool waitUntil(std::chrono::steady_clock::time_point until) const;
  Status status() const;
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool done_ = false;
  std::atomic<bool> doneFlag_{false};  // done_, readable without the lock (polling waiters)
  Status status_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::microseconds spin_;
};

}  // namespace banyan::detail
