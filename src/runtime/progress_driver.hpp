#pragma once
// Who runs the event loop, and how a rank waits: spin briefly, then block.
//
// One asio::io_context carries every transport's sockets, the engines' deferred work and the
// watchdog's timer, and exactly one thread at a time runs it (the driver, under the driver
// lock). A thread that waits for its own operation drives itself when nobody else does, so a
// blocking collective runs on the caller's thread with no hand-offs. The progress thread drives
// whenever operations are outstanding and no waiter does, so asynchronous operations advance
// while the caller computes. Between looks at the event loop the driver polls every engine
// (common/engine.hpp), in the order they were added, without knowing which is which.

#include "common/engine.hpp"
#include "runtime/work_state.hpp"

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace banyan::detail {

class ProgressDriver final : public Driver {
 public:
  // `spin`: how long the driver polls after any activity before it blocks; `yieldWhileSpinning`:
  // ranks outnumber cores, so spin with sched_yield rather than `pause`.
  ProgressDriver(std::chrono::microseconds spin, bool yieldWhileSpinning);
  ~ProgressDriver();

  asio::io_context& io() { return io_; }
  // Before start(); engines must outlive the driving (stop() ends it).
  void addEngine(Engine& engine) { engines_.push_back(&engine); }
  void start();
  // Ends the progress thread and waits for it. Whoever drives next drives only to see its Work
  // done, which close() has ensured.
  void stop();
  bool started() const { return progress_.joinable(); }

  // A new Work, waited on through this driver, that must end by `deadline`.
  std::shared_ptr<WorkState> newState(std::chrono::steady_clock::time_point deadline);
  // Outstanding operations (queued or running): the progress thread drives while there are any.
  void operationQueued() { ++outstanding_; }
  void operationEnded() { --outstanding_; }
  // Asynchronous work was queued: the progress thread should drive it.
  void wakeProgressThread();

  // The driver lock, if nobody holds it (a blocking call that finds nobody driving starts its
  // operation at once), or blocking (close()).
  std::unique_lock<std::mutex> tryHold() { return std::unique_lock(driverMutex_, std::try_to_lock); }
  std::unique_lock<std::mutex> hold() { return std::unique_lock(driverMutex_); }

  bool tryDriveUntil(const WorkState& state, std::chrono::steady_clock::time_point until) override;

 private:
  void progressLoop();
  // Runs handlers until `done()` or `until`: polls for spin_ after any activity, then blocks.
  template <typename Done>
  void drive(Done&& done, std::chrono::steady_clock::time_point until);
  std::size_t pollEngines();
  bool answersInMemory() const;
  // Every engine's prepareToSleep, or none: an engine that has work awakes those before it.
  bool prepareToSleep();
  void awake();

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<Engine*> engines_;
  const std::chrono::microseconds spin_;
  const bool yieldWhileSpinning_;

  std::mutex driverMutex_;  // held by the thread running io_
  std::mutex wakeMutex_;    // with wake_: the progress thread's sleep
  std::condition_variable wake_;
  bool closing_ = false;                      // under wakeMutex_
  std::atomic<std::int64_t> outstanding_{0};  // queued or running operations
  std::atomic<bool> progressDriving_{false};  // the progress thread holds driverMutex_
  std::atomic<int> stepAsideRequests_{0};     // callers waiting to take over from it
  std::thread progress_;
};

}  // namespace banyan::detail
