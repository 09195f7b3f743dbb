#pragma once
// Groups: groupStart/groupEnd collect a thread's asynchronous calls and issue them together.
// Runs of consecutive small allreduces with one reduction become one fused allreduce (the
// per-message latency paid once, as PyTorch's allreduce_coalesced and DDP's small buckets
// need); sends and receives are posted together, so a ring of large sends posted before their
// receives cannot deadlock. Every rank must make the same group.

#include "common/call.hpp"
#include "runtime/identity.hpp"
#include "runtime/operation.hpp"
#include "runtime/progress_driver.hpp"

#include <banyan/work.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace banyan::detail {

// A call made inside a group, kept until groupEnd: a collective (maybe standing for fused
// parts) or a send or receive.
struct Grouped {
  std::optional<CollectiveCall> collective;
  std::optional<PointToPointCall> pointToPoint;
  std::shared_ptr<WorkState> state;
  std::shared_ptr<FusedAllreduce> fused = nullptr;
};

// What groupEnd issues: the calls, fused where they can be, and the group's own Work, which
// ends when every call has, with the first error.
struct GroupBatch {
  std::vector<Grouped> calls;
  std::shared_ptr<WorkState> group;
};

class GroupBatcher {
 public:
  GroupBatcher(const Identity& identity, ProgressDriver& driver, std::chrono::milliseconds timeout)
      : identity_(identity), driver_(driver), timeout_(timeout) {}

  void start();
  // If this thread has a group open, keeps the call and returns its Work. `what` names the
  // call in the error a blocking call inside a group gets.
  std::optional<Work> collect(const CollectiveCall* collective, const PointToPointCall* pointToPoint, bool blocking,
                              const char* what);
  // Closes this thread's group; the outermost end returns the batch to issue (none: an inner
  // group, or an empty one).
  std::optional<GroupBatch> end();

 private:
  static std::shared_ptr<WorkState> tally(const std::vector<Grouped>& calls, ProgressDriver& driver);
  std::vector<Grouped> fuse(std::vector<Grouped> calls);

  const Identity& identity_;
  ProgressDriver& driver_;
  const std::chrono::milliseconds timeout_;
  std::atomic<bool> open_{false};  // quick check before mutex_
  std::mutex mutex_;
  std::thread::id owner_;       // under mutex_
  int depth_ = 0;               // under mutex_
  std::vector<Grouped> calls_;  // under mutex_
};

}  // namespace banyan::detail
