#pragma once
// Runs one rank's schedule against a transport, on the progress thread.
//
// A step starts as soon as the steps it depends on have completed, so independent work
// overlaps: while slice j is on the wire, slice j-1 is being reduced and slice j+1 received.
// Sends and receives are handed to the transport in step order per peer (the schedule's
// matching rule). Reduce and Copy steps run inline on the driving thread, after every ready
// send and receive has been posted (so the wire never waits behind arithmetic), and after
// kYieldBytes of local work the executor yields to the event loop so sockets keep moving.

#include "algorithms/schedule.hpp"
#include "common/status.hpp"
#include "reduce/reduce.hpp"
#include "transports/transport.hpp"

#include <banyan/types.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace banyan::observe {
class Tracer;
}

namespace banyan::runtime {

// A schedule with what the executor derives from it once (reverse edges, per-peer order),
// cached and shared by every call with the same shape.
struct Plan {
  algorithms::Schedule schedule;
  std::vector<std::uint32_t> dependentsBegin;  // CSR: dependents of step i are
  std::vector<std::uint32_t> dependents;       // dependents[dependentsBegin[i] .. [i+1])
  std::vector<int> peers;                      // every peer the schedule talks to
  // Per peer (indexed like `peers`): its Send steps and its Recv steps, in step order.
  std::vector<std::vector<std::uint32_t>> sendsByPeer;
  std::vector<std::vector<std::uint32_t>> recvsByPeer;
  std::vector<int> peerSlot;  // step index -> index into `peers` (-1 for local steps)
};

std::shared_ptr<const Plan> makePlan(algorithms::Schedule schedule);

struct Operation {
  std::uint64_t tag = 0;       // carried by every message of the operation
  std::uint64_t sequence = 0;  // the call's number (tracing; the tag also holds a fingerprint)
  std::shared_ptr<const Plan> plan;
  const std::byte* input = nullptr;
  std::byte* output = nullptr;
  std::byte* scratch = nullptr;
  std::size_t elementSize = 0;
  DataType type = DataType::f32;
  ReduceOp op = ReduceOp::sum;
  // When set, Reduce steps run this instead of the (type, op) kernel: a compressed allreduce's
  // decode-add-encode (CollectiveCall::reduceWith).
  std::function<void(void* dst, const void* a, const void* b, std::size_t count)> reduceWith;
  int nranks = 1;
  // Called once, on the progress thread, when every step is done or the first one failed.
  std::function<void(const Status&)> onDone;
};

class Executor {
 public:
  // Local work done between two visits to the event loop: long enough to amortise the visit,
  // short enough (tens of microseconds) that socket buffers do not run dry meanwhile.
  static constexpr std::size_t kYieldBytes = 256 * 1024;

  // `defer` queues a function to run later on the event loop (asio::post).
  Executor(transport::Transport& transport, std::function<void(std::function<void()>)> defer)
      : transport_(transport), defer_(std::move(defer)) {}

  // Starts `operation`; one at a time (the previous one must have called onDone).
  void start(Operation operation);
  // Ends the running operation with `status` (timeout, abort). No-op when idle.
  void fail(const Status& status);
  bool busy() const { return busy_; }
  // What the running operation waits on: "recv from rank 2 (3 of 8), send to rank 1 (4 of 8)".
  std::string describePending() const;
  // BANYAN_TRACE: every send, receive and local step is reported here as a span (null: none).
  void setTracer(observe::Tracer* tracer) { tracer_ = tracer; }

 private:
  void drain();
  void makeReady(std::uint32_t index);
  std::size_t runLocal(std::uint32_t index);  // returns the bytes it touched
  void postReady(std::size_t peerSlot, bool sends);
  void stepDone(std::uint32_t index);
  void finish(const Status& status);
  std::byte* address(const algorithms::Span& span) const;

  transport::Transport& transport_;
  std::function<void(std::function<void()>)> defer_;
  Operation current_;
  bool busy_ = false;
  bool draining_ = false;
  std::uint64_t generation_ = 0;  // completions of an earlier operation are ignored
  reduce::Kernel kernel_ = nullptr;
  std::size_t stepsLeft_ = 0;
  // Per-step state, reused across operations to avoid allocating per call.
  std::vector<std::uint8_t> depsLeft_;
  std::vector<std::uint8_t> ready_;       // deps met, waiting for its turn in per-peer order
  std::deque<std::uint32_t> localReady_;  // Reduce/Copy steps whose deps are met, oldest first
  std::vector<std::uint32_t> networkReady_;
  std::vector<std::size_t> sendCursor_, recvCursor_;  // per peer slot: next to post
  std::vector<std::size_t> sendsDone_, recvsDone_;    // per peer slot, for describePending
  observe::Tracer* tracer_ = nullptr;
};

}  // namespace banyan::runtime
