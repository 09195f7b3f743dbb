#pragma once
// The shared state behind banyan::Work: completed once, by the progress thread, and waited
// on by any number of user threads (condition variable: waiting never spins).

#include "common/status.hpp"

#include <banyan/work.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace banyan::detail {

class WorkState;

// Lets a waiting thread run the communicator's progress engine itself, so a blocking call
// costs no thread hand-offs (implemented by CommunicatorImpl).
class Driver {
 public:
  virtual ~Driver() = default;
  // Drives progress on this thread until `state` is done or `until` passes. Returns false at
  // once, without driving, when another thread is driving already, and after driving when it
  // handed the driving to another thread before either (then the caller waits for the state).
  virtual bool tryDriveUntil(const WorkState& state, std::chrono::steady_clock::time_point until) = 0;
};

class WorkState {
 public:
  // `deadline`: by when the runtime promises to have ended the operation (its timeout plus
  // slack); a wait that outlives it reports the runtime itself as stuck.
  // `spin`: how long a waiter polls before it sleeps on the condition variable.
  // `driver`: the communicator's engine, valid until this state is completed (a communicator
  // completes every state before it goes away).
  WorkState(std::chrono::steady_clock::time_point deadline, std::chrono::microseconds spin, Driver* driver)
      : deadline_(deadline), spin_(spin), driver_(driver) {}

  using Callback = std::function<void(const std::optional<Error>&)>;

  // First call wins; later calls are ignored. Runs the callbacks added so far, in order.
  void complete(const Status& status);
  // Runs `callback` on completion, or now if already complete (see Work::then).
  void addCallback(Callback callback);
  // As addCallback, but runs once the state counts as done (for a group's Work, which must
  // not end before its members do).
  void addAfterDone(Callback callback);

  bool done() const { return doneFlag_.load(std::memory_order_acquire); }
  // A receive's source rank, set before it completes (see Work::source).
  void setSource(int rank) { source_.store(rank, std::memory_order_relaxed); }
  int source() const { return source_.load(std::memory_order_relaxed); }
  // Waits until done or `until`; returns done().
  bool waitUntil(std::chrono::steady_clock::time_point until) const;
  Status status() const;
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool done_ = false;
  bool completing_ = false;            // complete() is running callbacks
  std::atomic<bool> doneFlag_{false};  // done_, readable without the lock (polling waiters)
  std::atomic<int> source_{-1};
  Status status_;
  std::vector<Callback> callbacks_;  // under mutex_, until done_
  std::vector<Callback> afterDone_;  // under mutex_, until done_
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::microseconds spin_;
  Driver* driver_;
};

}  // namespace banyan::detail
