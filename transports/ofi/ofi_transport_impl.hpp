#pragma once
// The ofi transport's inside, shared by the files that each do one part of its work:
//   ofi_transport.cpp    the Transport calls, opening and closing, the helper thread
//   ofi_endpoint.cpp     the libfabric objects (Endpoint)
//   ofi_posting.cpp      posting into the provider's bounded queues, and holding back
//   ofi_tagged.cpp       eager (tagged) sends and receives and their credits (flow_control.hpp)
//   ofi_rma.cpp          large messages by RMA write into a registered buffer (memory_registry.hpp)
//   ofi_control.cpp      control messages: sealing, checking the sender (membership.hpp), handling
//   ofi_completions.cpp  reading the completion queue, errors, failing everything
//   ofi_liveness.cpp     whether a peer is gone (ofi_liveness.hpp)
// Everything here runs under `mutex` (ofi_transport.hpp says who calls what).

#include <rdma/fi_domain.h>

#include <asio.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "transports/ofi/flow_control.hpp"
#include "transports/ofi/membership.hpp"
#include "transports/ofi/memory_registry.hpp"
#include "transports/ofi/ofi_endpoint.hpp"
#include "transports/ofi/ofi_operations.hpp"
#include "transports/ofi/ofi_transport.hpp"
#include "transports/ofi/provider_watchdog.hpp"
#include "transports/ofi/receive_guard.hpp"

namespace banyan::transport::ofi {

constexpr std::size_t kControlReceives = 64;
constexpr std::size_t kControlSends = 64;
// How long a driver with operations outstanding sleeps at most: manual-progress providers
// move nothing until the queue is read again.
constexpr auto kNap = std::chrono::microseconds(200);
// A driver that keeps waking to find nothing naps longer, doubling every kNapsPerStep quiet naps
// up to kLongestNap (the helper thread's tick, which still reads the queue every millisecond and
// wakes the driver for what it finds): measured on 2 cores, 5000 empty wake-ups a second cost a
// rank waiting on a stopped peer 18-23% of a core (bench/ofi_waiting_cpu.sh). Anything read
// from the queue starts again at kNap.
constexpr auto kLongestNap = std::chrono::microseconds(1000);
constexpr std::uint32_t kNapsPerStep = 16;
// The helper thread's look at a queue nobody else reads: often while there is traffic, rarely
// once the transport has been idle for a second.
constexpr auto kHelperTick = std::chrono::milliseconds(1);
constexpr auto kHelperIdleTick = std::chrono::milliseconds(20);
constexpr int kHelperTicksBeforeIdle = 1000;
// How long a rank that found a mismatch waits for its Mismatch message to leave before it
// closes the endpoint anyway.
constexpr auto kTellBound = std::chrono::milliseconds(200);
// How long one libfabric call over shm may take before it counts as spinning on a dead rank's
// lock (provider_watchdog.hpp): far above any real call, well below the fault tests' 30 s.
constexpr auto kSpinBound = std::chrono::milliseconds(10000);

// State the event-loop handlers touch: shared, so a handler that runs after the transport is
// gone (cancelled on destruction) touches nothing freed.
struct SleepState {
  bool timerArmed = false;
  bool fdArmed = false;
};

struct OfiTransport::Impl {
  enum Queue { kTx = 0, kRx = 1 };

  struct Peer {
    bool reachable = false;
    fi_addr_t addr = FI_ADDR_UNSPEC;
    std::string where;  // fi_av_straddr of its address
    std::uint64_t sendSeq = 0;
    std::uint64_t recvSeq = 0;
    // RMA sends waiting for the receiver's Ready, by seq, and Ready messages that came before
    // their send was posted.
    std::unordered_map<std::uint64_t, SendOp*> awaitingReady;
    std::unordered_map<std::uint64_t, ControlMessage> earlyReady;
    // Eager sends waiting for a credit from this peer, and eager receives from it waiting for
    // one of its posted receives to complete, in order (flow_control.hpp).
    std::deque<SendOp*> heldForCredit;
    std::deque<RecvOp*> heldReceives;
    // Liveness (ofi_liveness.hpp): the process on this host (0: elsewhere or unknown), its
    // exit watch, why the peer can no longer be reached ("" while it can), and the probe.
    int pid = 0;
    ExitWatch exitWatch;
    std::string gone;
    // The process is known to have ended (the exit watch saw it), not only to be unreachable:
    // the runtime's look-up of its failure account need not wait for one to appear.
    bool exited = false;
    std::optional<std::chrono::steady_clock::time_point> exitedAt;  // seen by the exit watch
    bool probing = false;
    bool reached = false;  // an operation with it has completed
    std::chrono::steady_clock::time_point probedAt{};
  };

  Impl(const asio::any_io_executor& io, InfoPtr i, const OfiTransportParams& p)
      : io(io),
        info(std::move(i)),
        params(p),
        liveness(p.liveness ? p.liveness : std::make_shared<PeerLiveness>(p.size)),
        strangers(p.rank),
        timer(io),
        sleep(std::make_shared<SleepState>()) {}

  asio::any_io_executor io;
  InfoPtr info;
  OfiTransportParams params;
  std::shared_ptr<PeerLiveness> liveness;  // params.liveness, or the transport's own
  // Directed receives and source checks in use (membership.hpp), and what they dropped.
  bool checkSources = false;
  StrangerLog strangers;
  std::string description;
  std::string providerName;

  Endpoint endpoint;
  std::unique_ptr<MemoryRegistry> registry;
  std::unique_ptr<asio::posix::stream_descriptor> waitDescriptor;
  asio::steady_timer timer;
  std::shared_ptr<SleepState> sleep;

  bool rmaEnabled = false;
  RmaNotify notify = RmaNotify::CqData;
  std::uint64_t cqDataMask = 0;  // the bits of remote CQ data the provider carries
  std::size_t maxWrite = 0;
  // Where a message longer than its receive must not reach the provider (shm:
  // receive_guard.hpp), the spare space every eager receive gets after the user's buffer.
  std::unique_ptr<ReceiveGuard> guard;
  // Where the provider's receive pool must not overflow (shm: flow_control.hpp), each peer's
  // credits; off elsewhere.
  Credits credits;
  std::size_t detachedLive = 0;  // sends whose callers were told they completed, not yet sent
  // Over shm, the bound on a libfabric call that spins on a dead rank's lock (provider_watchdog.hpp).
  std::unique_ptr<ProviderWatchdog> watchdog;

  std::vector<Peer> peers;
  std::unordered_set<Context*> live;                    // sends, receives and writes posted or waiting
  std::unordered_map<std::uint64_t, RecvOp*> rmaRecvs;  // by id
  std::uint64_t nextId = 1;

  std::vector<ControlMessage> arena;  // control slots: receives first, then sends
  std::vector<ControlOp> controlOps;
  void* arenaDesc = nullptr;
  std::vector<std::size_t> freeSendSlots;
  std::deque<std::pair<int, ControlMessage>> pendingControl;  // waiting for a free send slot

  struct Held {
    std::function<ssize_t()> attempt;
    int peer = -1;  // where a transmit goes
  };
  std::deque<Held> waiting[2];  // posts held back, per queue, in order
  // Since when the first held transmit has met -FI_EAGAIN without a break (ofi_liveness.hpp).
  std::optional<std::chrono::steady_clock::time_point> txRefusedSince;
  std::size_t posted[2] = {0, 0};  // operations in the provider's queues
  std::size_t limit[2] = {0, 0};
  std::uint64_t retried = 0;
  std::deque<std::pair<Completion, Status>> due;
  bool shutDown = false;
  Status failure;
  // A mismatch found here, told to the peer: the endpoint closes (failAll) once that Mismatch
  // message has left, or at doomedBy, whichever comes first.
  std::optional<Status> doomed;
  std::chrono::steady_clock::time_point doomedBy;

  std::mutex mutex;
  std::condition_variable helperWake;
  std::thread helper;
  bool stopping = false;
  std::uint64_t driverPolls = 0;
  std::uint32_t quietNaps = 0;  // naps in a row after which the queue had nothing

  std::chrono::microseconds nextNap() {
    const std::uint32_t step = std::min<std::uint32_t>(quietNaps++ / kNapsPerStep, 8);
    return std::min<std::chrono::microseconds>(kNap * (1u << step), kLongestNap);
  }
  // Held by the exit watches' handlers: one that runs after the transport is gone does nothing.
  std::shared_ptr<int> aliveToken = std::make_shared<int>(0);
  std::chrono::steady_clock::time_point nextProbeRound{};

  // ofi_transport.cpp
  void open();
  void close();
  void helperLoop();
  // Peer `rank`, or nullptr where it cannot be reached from here.
  Peer* peerOf(int rank) {
    if (rank < 0 || rank >= params.size || rank == params.rank) return nullptr;
    Peer& peer = peers[static_cast<std::size_t>(rank)];
    return peer.reachable ? &peer : nullptr;
  }
  // The peer a send or receive goes to, or nullptr after queueing `done` with the reason there
  // is none (the transport is shut down, or the rank cannot be reached).
  Peer* accept(int rank, Completion& done);

  // ofi_posting.cpp: the transmit and receive queues hold tx_attr->size and rx_attr->size
  // operations; banyan counts what it has posted and holds back the rest (shm answers a full
  // receive queue with -FI_ENOMEM, not -FI_EAGAIN). A post that still meets -FI_EAGAIN (rxm
  // while it connects to a peer) waits too; both are retried in poll(), after the queue was read.
  void post(Queue queue, std::function<ssize_t()> attempt, int peer = -1);
  void repostControl(std::function<ssize_t()> attempt);
  bool tryPost(Queue queue, const std::function<ssize_t()>& attempt, int peer);
  void retryBlocked();
  bool anyWaiting() const { return !waiting[kTx].empty() || !waiting[kRx].empty(); }

  // ofi_tagged.cpp
  void finish(SendOp* op, const Status& status);
  void finish(RecvOp* op, const Status& status);
  void postEagerSend(SendOp* op, const Peer& peer);
  void sendEager(SendOp* op, Peer& peer);
  void creditsArrived(int rank, std::uint32_t count);
  void receiveEager(RecvOp* op, Peer& peer);
  void eagerReceived(int rank);
  void postEagerRecv(RecvOp* op);

  // ofi_rma.cpp
  bool usesRma(std::size_t bytes) const { return rmaEnabled && bytes != 0 && bytes >= params.rmaBytes; }
  std::uint32_t piecesOf(std::size_t bytes) const {
    return static_cast<std::uint32_t>((bytes + maxWrite - 1) / maxWrite);
  }
  void postRmaRecv(RecvOp* op, Peer& peer);
  bool agrees(SendOp* op, const ControlMessage& expected);
  void startWrites(SendOp* op, const ControlMessage& ready);
  void writeArrived(std::uint64_t id, bool all);

  // ofi_control.cpp
  void failMismatch(int peerRank, std::uint64_t seq, std::uint64_t bytes, std::uint64_t operation, const Status& why);
  void settleDoomed(bool told);
  void sendControl(int peerRank, const ControlMessage& message);
  void postControlRecv(ControlOp& control, bool first = false);
  bool fromMember(const ControlMessage& message, std::size_t length, fi_addr_t source);
  void handleControl(const ControlMessage& message);

  // ofi_completions.cpp
  void dispatch(const fi_cq_data_entry& entry, fi_addr_t source);
  void readError();
  std::size_t readQueue();
  void failAll(const Status& failed);
  void drainDetached(std::unique_lock<std::mutex>& lock);

  // ofi_liveness.cpp
  std::string describe(int rank) const;
  Status lostStatus(int rank) const;
  bool waitsOn(int rank) const;
  void peerExited(int rank);
  void settleExited(std::size_t read);
  void noteRefused(int rank);
  void probePeers();
  bool processEnded(int rank) const;
};

}  // namespace banyan::transport::ofi
