#pragma once
// Where calls enter: the argument checks (call_checks.hpp), groups (group_batch.hpp), sequence
// numbers and the Work every call returns. An accepted call goes to the operation runner on
// the driving thread: at once when the caller is a blocking call that finds nobody driving
// (it will drive itself: no trip through the event loop), else posted to the event loop.
// One lock orders sequence numbers and posts, so issue order is execution order even when
// several user threads call at once. Any thread.

#include "common/call.hpp"
#include "observe/flight_recorder.hpp"
#include "runtime/group_batch.hpp"
#include "runtime/identity.hpp"
#include "runtime/operation_runner.hpp"
#include "runtime/progress_driver.hpp"

#include <banyan/work.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace banyan::detail {

class ApiFront {
 public:
  ApiFront(const Identity& identity, std::chrono::milliseconds timeout, ProgressDriver& driver,
           asio::any_io_executor executor, OperationRunner& runner, observe::FlightRecorder* recorder);

  // Checks the call (throws InvalidUsage), keeps it if this thread has a group open, else queues
  // it; returns its Work. `blocking`: the caller waits at once, and will drive progress itself.
  Work submit(const CollectiveCall& call, bool blocking);
  Work submit(const PointToPointCall& call, bool blocking);
  void groupStart() { groups_.start(); }
  Work groupEnd();
  // Refuses every later call (close()).
  void close();

 private:
  // One call of a group, numbered, ready to start.
  struct GroupStart {
    std::optional<Pending> collective;
    std::optional<PointToPointCall> pointToPoint;
    std::uint64_t number = 0;
    std::shared_ptr<WorkState> state;
  };
  // `driving`: the caller holds the driver lock, so the group may start on its thread.
  void issue(GroupBatch batch, bool driving);
  // On the driving thread.
  void start(std::vector<GroupStart>& starts);
  void recordQueued(const Pending& pending);
  std::shared_ptr<WorkState> newState();

  const Identity& identity_;
  const std::chrono::milliseconds timeout_;
  ProgressDriver& driver_;
  const asio::any_io_executor executor_;  // the driver's event loop, as this communicator's member of it
  OperationRunner& runner_;
  observe::FlightRecorder* recorder_;
  GroupBatcher groups_;
  std::mutex mutex_;
  bool closed_ = false;                     // under mutex_
  std::uint64_t sequence_ = 0;              // under mutex_: numbers collectives (tags, messages)
  std::uint64_t p2pSequence_ = 0;           // under mutex_: numbers sends and receives for messages
  std::atomic<int> postedStarts_{0};        // collectives posted to the loop, not yet queued
  std::atomic<int> postedPointToPoint_{0};  // sends/receives posted to the loop, not yet started
};

}  // namespace banyan::detail
