#pragma once
// What a Communicator is made of, and who does what (docs/architecture.md draws it):
//
//   ApiFront          calls come in: argument checks, groups (GroupBatcher), sequence numbers, Work
//   OperationRunner   runs them in order on the driving thread: engine choice, deadlines, endings
//   ProgressDriver    who runs the event loop, spinning then sleeping, over every Engine
//   engines           ScheduleEngine (schedules over the transport), ShmCollectives (allreduce and
//                     allgather in shared memory), PointToPoint (send/recv on a channel of its own)
//   FailureAccounts   why an operation failed, told to and read from the peers
//   ControlPlane      the control channel (resilience/): heartbeats, failure notices, revoke, agree
//
// This class builds them (the set-up below), owns them, and closes them; the public
// Communicator forwards to it.

#include "bootstrap/counting_store.hpp"
#include "config/config.hpp"
#include "intrahost/shm_collectives.hpp"
#include "observe/flight_recorder.hpp"
#include "observe/tracer.hpp"
#include "p2p/point_to_point.hpp"
#include "resilience/control_plane.hpp"
#include "runtime/api_front.hpp"
#include "runtime/failure_accounts.hpp"
#include "runtime/identity.hpp"
#include "runtime/operation_runner.hpp"
#include "runtime/progress_driver.hpp"
#include "runtime/schedule_engine.hpp"
#include "runtime/shared_connections.hpp"
#include "runtime/transport_setup.hpp"
#include "tuning/selector.hpp"

#include <banyan/options.hpp>
#include <banyan/store.hpp>
#include <banyan/work.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace banyan::detail {

// Communicators made in one process are numbered in creation order, which every rank must
// share (as with MPI_Comm_dup), so their store keys never collide. Returns the next number.
std::uint64_t takeCommunicatorId();

// What a communicator made from another shares with it: the event loop and progress thread
// (progress_driver.hpp), and the connections (runtime/shared_connections.hpp) where they can carry
// its messages.
struct Family {
  std::shared_ptr<ProgressDriver> driver;  // null: a driver of its own
  runtime::ConnectionShare share;
};

class CommunicatorImpl final {
 public:
  // `id` numbers the communicator in this process (store keys, segment names); by default the
  // next number. Every rank must number its communicators alike (see takeCommunicatorId).
  // `family`: what the communicator this one is made from shares with it (none: its own).
  CommunicatorImpl(std::shared_ptr<Store> store, int rank, int size, const Options& options,
                   std::optional<std::uint64_t> id = std::nullopt, Family family = {});
  ~CommunicatorImpl();

  int rank() const { return identity_.rank; }
  int size() const { return identity_.size; }
  const std::shared_ptr<Store>& store() const { return store_; }
  const Options& options() const { return options_; }
  const std::string& storePrefix() const { return identity_.prefix; }
  const config::Config& config() const { return config_; }
  // The control channel; throws InvalidUsage once the communicator is closed.
  resilience::ControlPlane& control() {
    if (!control_) fail(ErrorCode::InvalidUsage, "{} is closed on rank {}", identity_.name, identity_.rank);
    return *control_;
  }
  // Numbers this communicator's split() calls, which every rank makes in the same order.
  std::uint64_t nextSplit() { return splits_++; }
  // What communicators made from this one share with it; InvalidUsage once it is closed.
  Family family();

  // Checks the call (throws InvalidUsage) and queues it; returns its Work. `blocking`: the
  // caller waits at once, and will drive progress itself.
  Work enqueue(const CollectiveCall& call, bool blocking) { return front_->submit(call, blocking); }
  Work enqueue(const PointToPointCall& call, bool blocking) { return front_->submit(call, blocking); }
  void groupStart() { front_->groupStart(); }
  Work groupEnd() { return front_->groupEnd(); }
  // Ends every pending and later operation here and on every rank with Aborted.
  void revoke();
  void close();

 private:
  // Set-up, in the order the constructor runs it; `creating` takes the driver lock where a
  // running family's event loop must wait for this member (see the constructor).
  void setUp(std::unique_lock<std::mutex>& creating);
  // Switches this member's executor off and removes its engines from the driver (whose lock
  // the caller holds, or which nobody drives yet).
  void leaveFamily();
  std::uint64_t agreeNonce();
  // The control channel, started once every rank's address is known (`setup`).
  void startControlPlane(const runtime::TransportSetup& setup);
  // Throws the loss behind a failed set-up, if the control channel knows of one.
  void throwLossBehind(const Error& failed);
  void setUpEngines(runtime::TransportSetup& setup, std::uint64_t nonce, const std::optional<security::JobKey>& key);
  // The point-to-point transport, and whether this communicator's connections can be shared
  // (then both transports become channels of connections_).
  void setUpConnections(runtime::TransportSetup& setup, std::uint64_t nonce,
                        const std::optional<security::JobKey>& key);
  void setUpObservers();
  void setUpSelector(const runtime::TransportSetup& setup);
  void logAlgorithmTable() const;

  const Options options_;  // as given, for communicators split from this one
  const config::Config config_;
  Identity identity_;
  std::shared_ptr<bootstrap::CountingStore> storeCount_;  // store_, counting its requests
  std::shared_ptr<Store> store_;
  std::atomic<std::uint64_t> splits_{0};
  std::shared_ptr<ProgressDriver> driver_;  // the family's
  std::shared_ptr<MemberSwitch> member_;    // off once closed: see member_executor.hpp
  asio::any_io_executor executor_;          // the driver's event loop, through member_
  bool closed_ = false;                     // under closeMutex_
  topology::HostLayout layout_;
  runtime::ConnectionShare share_;  // given by the communicator this one is made from
  // The family's connections (this one's own, or those it shares); declared before the
  // transports, which may be channels of them.
  std::shared_ptr<runtime::SharedConnections> connections_;
  std::vector<int> connectionRanks_;                           // by rank, the rank in connections_; empty: not shared
  std::unique_ptr<transport::PerPeerTransport> transport_;     // the collectives' connections
  std::unique_ptr<transport::PerPeerTransport> p2pTransport_;  // point-to-point's own (see p2p/)
  std::unique_ptr<runtime::ScheduleEngine> schedule_;
  std::unique_ptr<intrahost::ShmCollectives> shm_;  // when every rank is on this host; else null
  std::unique_ptr<p2p::PointToPoint> p2p_;
  std::unique_ptr<tuning::Selector> selector_;         // topology + cost model + BANYAN_ALGO
  std::unique_ptr<observe::FlightRecorder> recorder_;  // BANYAN_FLIGHT_RECORDER set; else null
  std::unique_ptr<observe::Tracer> tracer_;            // BANYAN_TRACE set; else null
  std::unique_ptr<resilience::ControlPlane> control_;
  std::unique_ptr<FailureAccounts> failures_;
  std::unique_ptr<OperationRunner> runner_;
  std::unique_ptr<ApiFront> front_;
  std::mutex closeMutex_;
};

}  // namespace banyan::detail
