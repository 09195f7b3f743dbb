#pragma once
// What a Communicator is made of.
//
// Progress: one asio::io_context drives the transport, the executor and the timeout timer,
// and exactly one thread at a time runs it (the driver, under driverMutex_). A thread that
// waits for its own operation drives itself when nobody else does, so a blocking collective
// runs on the caller's thread with no hand-offs. The progress thread drives whenever
// operations are outstanding and no waiter does, so asynchronous operations advance while the
// caller computes.

#include "common/status.hpp"
#include "config/config.hpp"
#include "runtime/collective.hpp"
#include "runtime/executor.hpp"
#include "runtime/plan_cache.hpp"
#include "runtime/scratch_buffer.hpp"
#include "runtime/work_state.hpp"
#include "intrahost/shm_collectives.hpp"
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

using runtime::Collective;

// One call, as the caller made it. `count` is the per-rank count the API names (allgather,
// gather, scatter: one rank's block; reduce-scatter: the received block; alltoall: one peer's
// block). Buffers a rank does not have (the receive buffer off the root of reduce or gather,
// the send buffer off the root of scatter, both of a barrier) may be null.
// Alltoallv's tables, copied from the caller (four tables of size() entries).
struct BlockTables {
  std::vector<std::size_t> sendCounts, sendOffsets, recvCounts, recvOffsets;
};

struct Request {
  Collective kind;
  const void* send;
  void* recv;
  std::size_t count;  // alltoallv: the elements this rank sends in all
  DataType type;
  ReduceOp op;
  int root = 0;  // rooted collectives only
  std::shared_ptr<const BlockTables> blocks = nullptr;  // alltoallv only
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
  void close();

  bool tryDriveUntil(const WorkState& state, std::chrono::steady_clock::time_point until) override;

 private:
  struct Pending {
    Request request;
    std::uint64_t sequence;
    std::shared_ptr<WorkState> state;
  };

  static const char* name(Collective kind);
  void validate(const Request& request) const;
  void validateBlocks(const Request& request) const;
  void validateBuffers(const Request& request) const;
  std::string describe(const Pending& pending) const;
  std::size_t sliceElements(const Request& request, std::size_t elementSize) const;

  // Progress thread only, from here on.
  void progressLoop();
  // Runs handlers until `done()` or `until`: polls for spin_ after any activity, then blocks.
  template <typename Done>
  void drive(Done&& done, std::chrono::steady_clock::time_point until);
  void completeWork(const std::shared_ptr<WorkState>& state, const Status& status);
  void startNext();
  void startOperation(Pending pending);
  void finishOperation(const std::shared_ptr<WorkState>& state, const Status& status);
  void failEverything(const Status& why);
  void armWatchdog();
  // Progress, sleep and failure of whichever engine runs the current operation.
  std::size_t pollEngines();
  bool prepareToSleep();
  void awake();
  void failRunning(const Status& status);
  std::string describeRunning() const;

  const Options options_;  // as given, for communicators split from this one
  const config::Config config_;
  std::chrono::microseconds spin_{0};  // config_.spin, or its automatic value
  bool yieldWhileSpinning_ = false;    // ranks outnumber cores: spin with sched_yield
  const int rank_;
  const int size_;
  std::shared_ptr<Store> store_;
  std::string name_;    // "communicator 3", for messages
  std::string prefix_;  // store key prefix of this communicator
  std::atomic<std::uint64_t> splits_{0};

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer timer_;
  runtime::HostLayout layout_;
  std::unique_ptr<tuning::Selector> selector_;  // topology + cost model + BANYAN_ALGO
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<runtime::Executor> executor_;
  // Allreduce/allgather straight in shared memory, when every rank is on this host.
  std::unique_ptr<intrahost::ShmCollectives> shmCollectives_;
  bool runningInShm_ = false;  // the current operation runs in shmCollectives_
  std::thread progress_;

  std::mutex driverMutex_;            // held by the thread running io_
  std::mutex wakeMutex_;              // with wake_: the progress thread's sleep
  std::condition_variable wake_;
  bool closing_ = false;              // under wakeMutex_
  std::atomic<std::int64_t> outstanding_{0};  // queued or running operations

  std::mutex enqueueMutex_;
  std::mutex closeMutex_;
  std::atomic<bool> closed_{false};
  std::uint64_t sequence_ = 0;  // under enqueueMutex_
  std::atomic<int> postedStarts_{0};  // operations posted to io_ that have not reached queue_

  std::deque<Pending> queue_;
  std::unique_ptr<Pending> current_;
  bool running_ = false;
  bool starting_ = false;
  bool watchdogArmed_ = false;
  Status broken_;
  runtime::PlanCache plans_;
  std::set<std::pair<Collective, tuning::Algorithm>> announced_;  // INFO-logged choices
  runtime::ScratchBuffer scratch_;
};

}  // namespace banyan::detail
