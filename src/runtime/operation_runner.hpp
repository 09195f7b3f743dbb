#pragma once
// Runs the accepted operations, one collective at a time in issue order, and every send and
// receive as it comes: picks the engine through the selector (the shared-memory engine or a
// schedule), prepares the input (a group's fused parts packed, a premultiplied sum scaled),
// finishes each operation (results unpacked, failures accounted for), and enforces deadlines
// with one watchdog timer. After a failure the communicator is broken: every later operation
// fails at once naming the first failure. Driving thread only, except where a method says.

#include "common/call.hpp"
#include "common/engine.hpp"
#include "config/config.hpp"
#include "intrahost/shm_collectives.hpp"
#include "observe/flight_recorder.hpp"
#include "observe/tracer.hpp"
#include "p2p/point_to_point.hpp"
#include "runtime/failure_accounts.hpp"
#include "runtime/identity.hpp"
#include "runtime/operation.hpp"
#include "runtime/progress_driver.hpp"
#include "runtime/schedule_engine.hpp"
#include "runtime/scratch_buffer.hpp"
#include "tuning/selector.hpp"

#include <asio.hpp>

#include <deque>
#include <memory>
#include <set>
#include <utility>
#include <vector>

namespace banyan::detail {

// What the runner runs operations with; all owned by the communicator, all outliving the runner's
// work. `shm`, `recorder` and `tracer` may be null (no shared-memory engine, no recording).
struct RunnerParts {
  ProgressDriver& driver;
  asio::any_io_executor executor;  // the driver's event loop, as this communicator's member of it
  runtime::ScheduleEngine& schedule;
  intrahost::ShmCollectives* shm;
  p2p::PointToPoint& p2p;
  tuning::Selector& selector;
  FailureAccounts& failures;
  resilience::ControlPlane& control;  // heartbeats say which operation this rank last entered
  observe::FlightRecorder* recorder;
  observe::Tracer* tracer;
};

class OperationRunner {
 public:
  OperationRunner(RunnerParts parts, const Identity& identity, const config::Config& config);

  // Queues a collective behind the others; startNext() starts the queue.
  void add(Pending pending) { queue_.push_back(std::move(pending)); }
  void startNext();
  void startTransfer(const PointToPointCall& call, std::uint64_t number, const std::shared_ptr<WorkState>& state);
  // Ends everything with `why`: close() (`tellPeers`: peers waiting on this rank's pending work
  // learn why it went), or a loss or revocation the control channel reported (any thread may
  // post it here; the peers know already).
  void failEverything(const Status& why, bool tellPeers = true);
  // A loss or revocation the control channel reported: what starts from now fails at once; the
  // running operation gets kLossGrace to end by itself (a collective may be past its last
  // exchange with the lost rank), then failEverything(why).
  void breakAfterGrace(const Status& why);

 private:
  void start(Pending pending);
  void noticeBreak();
  // Before an operation reports a break, the transports end with it (registrations released,
  // endpoints closed), as they would after a failure they saw themselves: what a caller finds
  // after an error does not depend on which side heard of the loss first. Once.
  void closeTransports(const Status& why);
  // The call as the engine should run it: a fused group packed, a premultiplied input scaled.
  CollectiveCall prepareInput(const Pending& pending);
  // Logs once per collective and algorithm which one runs and why (INFO, tuning).
  void announce(const Pending& pending, const tuning::Choice& choice, std::size_t bytes);
  void startInSharedMemory(const CollectiveCall& call);
  void startSchedule(const CollectiveCall& call, tuning::Algorithm algorithm);
  // The running operation ended (its engine's onDone).
  void finish(const Status& status);
  void unpackFused(const Pending& finished, const Status& status);
  // Completes `state`, logging a failure, and lets the next operation run.
  void finishOperation(const std::shared_ptr<WorkState>& state, const Status& status);
  void completeWork(const std::shared_ptr<WorkState>& state, const Status& status);
  void recordTransfer(std::uint64_t number, const Status& status);
  void armWatchdog();
  void failRunning(const Status& why);
  std::string describeRunning() const;
  std::string describe(const Pending& pending) const;

  RunnerParts parts_;
  const Identity& identity_;
  const config::Config& config_;
  asio::steady_timer timer_;
  asio::steady_timer graceTimer_;  // breakAfterGrace
  std::deque<Pending> queue_;
  std::unique_ptr<Pending> current_;
  Engine* runningIn_ = nullptr;  // the engine of current_
  bool running_ = false;
  bool starting_ = false;
  bool watchdogArmed_ = false;
  Status broken_;
  bool breakReported_ = false;                                    // some operation has failed with broken_ already
  bool transportsClosed_ = false;                                 // closeTransports ran
  std::set<std::pair<Collective, tuning::Algorithm>> announced_;  // INFO-logged choices
  runtime::ScratchBuffer premultiplied_;                          // a premultiplied sum's scaled input
  runtime::ScratchBuffer fusion_;                                 // a fused allreduce's packed parts
  runtime::ScratchBuffer compressed_;                             // a compressed allreduce's encoded data
  std::vector<float> compressedSums_;                             // its reductions' decoded operands
};

}  // namespace banyan::detail
