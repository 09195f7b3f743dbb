#pragma once
// The shared state behind banyan::Work: completed once, by the progress thread, and waited
// on by any number of user threads (condition variable: waiting never spins).

#include "common/status.hpp"

#include <banyan/work.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace banyan::detail {

class WorkState {
 public:
  // `deadline`: by when the runtime promises to have ended the operation (its timeout plus
  // slack); a wait that outlives it reports the runtime itself as stuck.
  explicit WorkState(std::chrono::steady_clock::time_point deadline) : deadline_(deadline) {}

  // First call wins; later calls are ignored.
  void complete(const Status& status);

  bool done() const;
  // Waits until done or `until`; returns done().
  bool waitUntil(std::chrono::steady_clock::time_point until) const;
  Status status() const;
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool done_ = false;
  Status status_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace banyan::detail
