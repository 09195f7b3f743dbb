#pragma once
// What a Communicator is made of.
//
// Progress: one asio::io_context drives the transport, the executor and the timeout timer,
// and exactly one thread at a time runs it (the driver, under driverMutex_). A thread that
// waits for its own operation drives itself when nobody else does, so a blocking collective
// runs on the caller's thread with no hand-offs. The progress thread drives whenever
// operations are outstanding and no waiter does, so asynchronous operations advance while the
// caller computes.

#include "common/log.hpp"
#include "common/status.hpp"
#include "config/config.hpp"
#include "common/collective.hpp"
#include "runtime/executor.hpp"
#include "runtime/plan_cache.hpp"
#include "runtime/scratch_buffer.hpp"
#include "runtime/work_state.hpp"
#include "intrahost/shm_collectives.hpp"
#include "observe/flight_recorder.hpp"
#include "observe/tracer.hpp"
#include "p2p/point_to_point.hpp"
#include "runtime/transport_setup.hpp"
#include "tuning/selector.hpp"

#include <banyan/options.hpp>
#include <banyan/store.hpp>
#include <banyan/work.hpp>

#include <asio.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace banyan::detail {


// One call, as the caller made it. `count` is the per-rank count the API names (allgather,
// gather, scatter: one rank's block; reduce-scatter: the received block; alltoall: one peer's
// block). Buffers a rank does not have (the receive buffer off the root of reduce or gather,
// the send buffer off the root of scatter, both of a barrier) may be null.
// Alltoallv's tables, copied from the caller (four tables of size() entries).
struct BlockTables {
  std::vector<std::size_t> sendCounts, sendOffsets, recvCounts, recvOffsets;
};

struct FusedAllreduce;

struct Request {
  Collective kind;
  const void* send;
  void* recv;
  std::size_t count;  // alltoallv: the elements this rank sends in all
  DataType type;
  ReduceOp op;
  int root = 0;  // rooted collectives only
  std::shared_ptr<const BlockTables> blocks = nullptr;  // alltoallv only
  // A premultiplied sum (op is sum): each rank's input is scaled by this first.
  std::optional<double> premulFactor = std::nullopt;
  // Allreduces of a group run as this one (count is their total); see groupEnd.
  std::shared_ptr<FusedAllreduce> fused = nullptr;
};

// Small allreduces of one group, run as one in place on a packed buffer.
struct FusedAllreduce {
  struct Part {
    const void* send;
    void* recv;
    std::size_t count;
    std::shared_ptr<WorkState> state;
  };
  std::vector<Part> parts;
};

// One send or receive, as the caller made it (peer may be kAnySource for a receive).
struct PointToPointRequest {
  bool isSend;
  const void* send;
  void* recv;
  std::size_t count;
  DataType type;
  int peer;
  int tag;
};

// Communicators made in one process are numbered in creation order, which every rank must
// share (as with MPI_Comm_dup), so their store keys never collide. Returns the next number.
std::uint64_t takeCommunicatorId();

class CommunicatorImpl final : public Driver {
 public:
  // `id` numbers the communicator in this process (store keys, segment names); by default the
  // next number. Every rank must number its communicators alike (see takeCommunicatorId).
  CommunicatorImpl(std::shared_ptr<Store> store, int rank, int size, const Options& options,
                   std::optional<std::uint64_t> id = std::nullopt);
  ~CommunicatorImpl();

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::shared_ptr<Store>& store() const { return store_; }
  const Options& options() const { return options_; }
  const std::string& storePrefix() const { return prefix_; }
  // Numbers this communicator's split() calls, which every rank makes in the same order.
  std::uint64_t nextSplit() { return splits_++; }
  // Checks `request` (throws InvalidUsage) and queues it; returns its Work. `blocking`: the
  // caller waits at once, and will drive progress itself.
  Work enqueue(const Request& request, bool blocking);
  // Checks a send or receive (throws InvalidUsage) and posts it; returns its Work.
  Work enqueue(const PointToPointRequest& request, bool blocking);
  void close();
  void groupStart();
  Work groupEnd();

  bool tryDriveUntil(const WorkState& state, std::chrono::steady_clock::time_point until) override;

 private:
  struct Pending {
    Request request;
    std::uint64_t sequence;
    std::shared_ptr<WorkState> state;
  };
  // A call made inside a group, kept until groupEnd.
  struct Grouped {
    std::optional<Request> collective;
    std::optional<PointToPointRequest> pointToPoint;
    std::shared_ptr<WorkState> state;
  };
  // If this thread has a group open, collects the call and returns its Work.
  std::optional<Work> collectIfGrouped(const Request* collective, const PointToPointRequest* pointToPoint,
                                       bool blocking, const char* what);
  std::shared_ptr<WorkState> newState();

  static const char* name(Collective kind);
  void validate(const Request& request) const;
  void validateBlocks(const Request& request) const;
  void validateBuffers(const Request& request) const;
  std::string describe(const Pending& pending) const;
  void recordQueued(const Pending& pending);  // into recorder_, when there is one
  void recordTransfer(std::uint64_t number, const Status& status);  // likewise, a send or receive ended
  std::size_t sliceElements(const Request& request, std::size_t elementSize) const;

  // Progress thread only, from here on.
  void progressLoop();
  // Runs handlers until `done()` or `until`: polls for spin_ after any activity, then blocks.
  template <typename Done>
  void drive(Done&& done, std::chrono::steady_clock::time_point until);
  void completeWork(const std::shared_ptr<WorkState>& state, const Status& status);
  void startNext();
  void startPointToPoint(const PointToPointRequest& request, std::uint64_t number,
                         const std::shared_ptr<WorkState>& state);
  void validate(const PointToPointRequest& request) const;
  std::string describe(const PointToPointRequest& request, std::uint64_t number) const;
  void startOperation(Pending pending);
  void finishOperation(const std::shared_ptr<WorkState>& state, const Status& status);
  void failEverything(const Status& why);
  void armWatchdog();
  // Progress, sleep and failure of whichever engine runs the current operation.
  std::size_t pollEngines();
  bool prepareToSleep();
  void awake();
  void failRunning(const Status& status);
  // Failure propagation (communicator_failures.cpp): the store key where `rank` says why it
  // failed; the cause of losing a peer, with that peer's own reason if it published one; and
  // this rank's reason, published once.
  std::string failureKey(int rank) const;
  Status explainLoss(const Status& failed, const Pending& pending);
  // `peer`'s account, or none when it wrote none (and, unless `exited`, none came within the
  // bound); waits for its final account when the peer may still be writing it.
  std::optional<std::string> lookUpAccount(int peer, bool exited);
  std::string aboutOurMessage() const;
  // A peer sent a message of another call: publish ours, read theirs, and say both.
  Status explainMismatch(const Status& failed, const Pending& pending);
  // Publishes this rank's call, reads `peer`'s: an InvalidUsage naming both, if the peer said.
  std::optional<Status> exchangeCalls(int peer, const Pending& pending);
  // 16 bits of what every rank's call must agree on (kind, count, type, op, root).
  static std::uint16_t fingerprint(const Request& request);
  // "allreduce(count=1024,f32,sum) #17", as the shared-memory engine names calls.
  std::string describeCall(const Pending& pending) const;
  // `final`: the account this rank ends with (readers wait for it, up to a bound); a first,
  // provisional one goes out at once so that readers are not left with nothing meanwhile.
  void publishFailure(const Status& failed, bool final);
  std::string describeRunning() const;

  const Options options_;  // as given, for communicators split from this one
  const config::Config config_;
  std::chrono::microseconds spin_{0};  // config_.spin, or its automatic value
  bool yieldWhileSpinning_ = false;    // ranks outnumber cores: spin with sched_yield
  const int rank_;
  const int size_;
  std::shared_ptr<Store> store_;
  std::string name_;    // "communicator 3", for messages
  std::int64_t id_ = -1;  // its number, for log lines
  log::Where logAs(log::Subsystem subsystem) const { return {subsystem, rank_, id_}; }
  std::string prefix_;  // store key prefix of this communicator
  std::atomic<std::uint64_t> splits_{0};

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer timer_;
  topology::HostLayout layout_;
  std::unique_ptr<tuning::Selector> selector_;  // topology + cost model + BANYAN_ALGO
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<runtime::Executor> executor_;
  // Point-to-point runs on connections of its own, beside the collectives (see p2p/).
  std::unique_ptr<transport::Transport> p2pTransport_;
  std::unique_ptr<p2p::PointToPoint> p2p_;
  // Allreduce/allgather straight in shared memory, when every rank is on this host.
  std::unique_ptr<intrahost::ShmCollectives> shmCollectives_;
  bool runningInShm_ = false;  // the current operation runs in shmCollectives_
  std::thread progress_;

  std::mutex driverMutex_;            // held by the thread running io_
  std::mutex wakeMutex_;              // with wake_: the progress thread's sleep
  std::condition_variable wake_;
  bool closing_ = false;              // under wakeMutex_
  std::atomic<std::int64_t> outstanding_{0};  // queued or running operations
  std::atomic<bool> progressDriving_{false};  // the progress thread holds driverMutex_
  std::atomic<int> stepAsideRequests_{0};     // callers waiting to take over from it

  std::mutex enqueueMutex_;
  std::mutex closeMutex_;
  std::atomic<bool> closed_{false};
  std::uint64_t sequence_ = 0;  // under enqueueMutex_
  std::uint64_t p2pSequence_ = 0;  // under enqueueMutex_: numbers sends and receives for messages
  std::atomic<int> postedStarts_{0};  // operations posted to io_ that have not reached queue_
  std::atomic<int> postedPointToPoint_{0};  // sends/receives posted to io_, not yet started

  std::deque<Pending> queue_;
  std::unique_ptr<Pending> current_;
  bool running_ = false;
  bool starting_ = false;
  bool watchdogArmed_ = false;
  Status broken_;
  bool failurePublished_ = false;
  runtime::PlanCache plans_;
  std::unique_ptr<observe::FlightRecorder> recorder_;  // BANYAN_FLIGHT_RECORDER set; else null
  std::unique_ptr<observe::Tracer> tracer_;            // BANYAN_TRACE set; else null
  std::set<std::pair<Collective, tuning::Algorithm>> announced_;  // INFO-logged choices
  runtime::ScratchBuffer scratch_;
  runtime::ScratchBuffer premultiplied_;  // a premultiplied sum's scaled input
  runtime::ScratchBuffer fusion_;         // a fused allreduce's packed parts

  std::atomic<bool> groupOpen_{false};  // quick check before groupMutex_
  std::mutex groupMutex_;
  std::thread::id groupOwner_;  // under groupMutex_
  int groupDepth_ = 0;          // under groupMutex_
  std::vector<Grouped> grouped_;  // under groupMutex_
};

}  // namespace banyan::detail
