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
//
// A driver serves a family: the communicator that made it and every communicator split from it
// (or from those) share its event loop, its progress thread and its lock, so a group costs no
// thread and no event loop of its own. Each member joins (its objects then run through a
// MemberExecutor, runtime/member_executor.hpp), adds its engines, and at its close removes them
// and switches its executor off; the progress thread stops when the last member has left.

#include "common/engine.hpp"
#include "runtime/member_executor.hpp"
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
  // A new member of the family: the switch of its executor, on until it leaves.
  std::shared_ptr<MemberSwitch> join();
  // The member leaves (its switch turned off by the caller, under the driver lock); returns true
  // for the last one, who then stops the driver.
  bool leave();
  // Before start(), or holding the driver lock: engines are polled from the next look on, until
  // removed (under the lock).
  void addEngine(Engine& engine) { engines_.push_back(&engine); }
  void removeEngine(const Engine& engine);
  // Starts the progress thread, once: the family's first member calls it.
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
  // operation at once).
  std::unique_lock<std::mutex> tryHold() { return std::unique_lock(driverMutex_, std::try_to_lock); }
  // The driver lock, taken from the progress thread if it drives (it steps aside, as for a
  // waiting caller), else waited for: a member being created or closed runs the loop alone.
  // handBack() returns it and wakes the progress thread if operations are outstanding.
  std::unique_lock<std::mutex> takeOver();
  void handBack(std::unique_lock<std::mutex> driving);

  // Drives until `state` is done or `until`, if nobody else drives; returns false when it did
  // not (someone else drives, or it let a takeOver() go first): then wait for the state.
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
  int members_ = 0;  // under wakeMutex_
  const std::chrono::microseconds spin_;
  const bool yieldWhileSpinning_;

  std::mutex driverMutex_;  // held by the thread running io_
  std::mutex wakeMutex_;    // with wake_: the progress thread's sleep
  std::condition_variable wake_;
  bool closing_ = false;                      // under wakeMutex_
  std::atomic<std::int64_t> outstanding_{0};  // queued or running operations
  std::atomic<bool> progressDriving_{false};  // the progress thread holds driverMutex_
  std::atomic<int> stepAsideRequests_{0};     // callers driving or trying to: it steps aside, stays asleep
  std::atomic<int> takeOverRequests_{0};      // takeOver() callers: whoever drives lets go
  std::thread progress_;
};

}  // namespace banyan::detail
