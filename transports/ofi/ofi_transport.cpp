#include "transports/ofi/ofi_transport.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/fi_tagged.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "transports/ofi/flow_control.hpp"
#include "transports/ofi/membership.hpp"
#include "transports/ofi/memory_registry.hpp"
#include "transports/ofi/peer_liveness.hpp"
#include "transports/ofi/provider_watchdog.hpp"
#include "transports/ofi/receive_guard.hpp"
#include "transports/ofi/wire.hpp"
#include "transports/shm/exit_watch.hpp"

namespace banyan::transport::ofi {
namespace {

// Every operation handed to libfabric starts with its fi_context2 (hints->mode FI_CONTEXT2),
// so the completion's op_context leads back to it.
struct Context {
  enum class Kind : std::uint8_t { Send, Recv, Write, ControlSend, ControlRecv };
  explicit Context(Kind k) : kind(k) {}
  fi_context2 fi{};
  Kind kind;
};

struct SendOp : Context {
  SendOp() : Context(Kind::Send) {}
  int peer = -1;
  std::uint64_t seq = 0;
  std::uint64_t tag = 0;
  const std::byte* data = nullptr;
  std::size_t bytes = 0;
  Completion done;
  bool rma = false;
  bool pinnedLocal = false;  // holds a local-descriptor pin (FI_MR_LOCAL)
  std::uint32_t writesLeft = 0;
  std::uint64_t id = 0;  // the receiver's id for this message (RMA)
  // A send held for credit (flow_control.hpp) travels from this copy, and its caller was told
  // it completed when the copy was made: `done` is spent.
  std::vector<std::byte> copy;
  bool detached = false;
};

struct RecvOp : Context {
  RecvOp() : Context(Kind::Recv) {}
  int peer = -1;
  std::uint64_t seq = 0;
  std::uint64_t tag = 0;
  std::byte* data = nullptr;
  std::size_t bytes = 0;
  Completion done;
  bool rma = false;
  bool pinned = false;  // holds a pin: the RMA target region, or a local descriptor
  std::uint64_t id = 0;
  std::uint32_t piecesLeft = 0;
};

struct WriteOp : Context {
  explicit WriteOp(SendOp* s) : Context(Kind::Write), send(s) {}
  SendOp* send;
};

struct ControlOp : Context {
  ControlOp() : Context(Kind::ControlRecv) {}
  ControlMessage* slot = nullptr;
  int peer = -1;  // ControlSend: where it goes
};

constexpr std::size_t kControlReceives = 64;
// The unexpected-message buffer asked of the sockets provider (its own largest, 64 MiB).
constexpr std::size_t kSocketsBufferedBytes = std::size_t{1} << 26;
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

std::string fiText(ssize_t ret) { return fmt::format("{} ({})", fi_strerror(static_cast<int>(-ret)), -ret); }

// State the event-loop handlers touch: shared, so a handler that runs after the transport is
// gone (cancelled on destruction) touches nothing freed.
struct SleepState {
  bool timerArmed = false;
  bool fdArmed = false;
};

}  // namespace

struct OfiTransport::Impl {
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
    // Liveness (peer_liveness.hpp): the process on this host (0: elsewhere or unknown), its
    // exit watch, why the peer can no longer be reached ("" while it can), and the probe.
    int pid = 0;
    std::unique_ptr<asio::posix::stream_descriptor> exitWatch;
    std::string gone;
    // The process is known to have ended (the exit watch saw it), not only to be unreachable:
    // the runtime's look-up of its failure account need not wait for one to appear.
    bool exited = false;
    std::optional<std::chrono::steady_clock::time_point> exitedAt;  // seen by the exit watch
    bool probing = false;
    bool reached = false;  // an operation with it has completed
    std::chrono::steady_clock::time_point probedAt{};
  };

  Impl(asio::io_context& io, InfoPtr i, const OfiTransportParams& p)
      : io(io), info(std::move(i)), params(p), strangers(p.rank), timer(io), sleep(std::make_shared<SleepState>()) {}

  asio::io_context& io;
  InfoPtr info;
  OfiTransportParams params;
  // Directed receives and source checks in use (membership.hpp), and what they dropped.
  bool checkSources = false;
  StrangerLog strangers;
  std::string description;
  std::string providerName;

  fid_fabric* fabric = nullptr;
  fid_domain* domain = nullptr;
  fid_cq* cq = nullptr;
  fid_av* av = nullptr;
  fid_ep* ep = nullptr;
  std::unique_ptr<MemoryRegistry> registry;
  int waitFd = -1;
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
  // Since when the first held transmit has met -FI_EAGAIN without a break (peer_liveness.hpp).
  std::optional<std::chrono::steady_clock::time_point> txRefusedSince;
  std::size_t posted[2] = {0, 0};                   // operations in the provider's queues
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

  void open();
  void close();

  // --- posting -----------------------------------------------------------------------------
  // The transmit and receive queues hold tx_attr->size and rx_attr->size operations; banyan
  // counts what it has posted and holds back the rest (shm answers a full receive queue with
  // -FI_ENOMEM, not -FI_EAGAIN). A post that still meets -FI_EAGAIN (rxm while it connects to a
  // peer) waits too; both are retried in poll(), after the queue was read.
  enum Queue { kTx = 0, kRx = 1 };

  void post(Queue queue, std::function<ssize_t()> attempt, int peer = -1) {
    if (shutDown) return;
    if (waiting[queue].empty() && posted[queue] < limit[queue] && tryPost(queue, attempt, peer)) return;
    waiting[queue].push_back({std::move(attempt), peer});
  }

  // A control receive going back up after its message arrived: ahead of every held receive and
  // past the count, since the control messages it takes (credits among them) are what lets the
  // held ones proceed; a control receive waiting behind data receives that wait for credits
  // would never see the credit (seen: 5 ranks, 64-byte slices, every rank at its count).
  void repostControl(std::function<ssize_t()> attempt) {
    if (shutDown) return;
    if (!tryPost(kRx, attempt, -1)) waiting[kRx].push_front({std::move(attempt), -1});
  }

  // True once posted (or failed for good); false if it must wait. `peer` is the rank a transmit
  // goes to (-1 for receives).
  bool tryPost(Queue queue, const std::function<ssize_t()>& attempt, int peer) {
    const ssize_t ret = [&] {
      ProviderWatchdog::Inside inside(watchdog.get());
      return attempt();
    }();
    if (ret == 0) {
      ++posted[queue];
      return true;
    }
    if (ret == -FI_EAGAIN || (ret == -FI_ENOMEM && posted[queue] > 0)) {
      ++retried;
      return false;
    }
    // A transmit the provider refuses for good names its peer: the sockets provider answers a
    // send to a peer whose process has gone with -FI_ENOENT (its connection is gone and cannot
    // be made again), which is that peer's loss, not a fault of this system.
    if (peer >= 0 && peer < params.size && peer != params.rank && peers[static_cast<std::size_t>(peer)].gone.empty()) {
      peers[static_cast<std::size_t>(peer)].gone =
          fmt::format("cannot be reached: {} refused a send to it: {}", providerName, fiText(ret));
      failAll(lostStatus(peer));
      return true;
    }
    failAll(Status::make(ErrorCode::System, "ofi: posting to the {} endpoint: {}", providerName, fiText(ret)));
    return true;
  }

  void retryBlocked() {
    for (Queue queue : {kTx, kRx}) {
      auto& list = waiting[queue];
      while (!list.empty() && !shutDown && posted[queue] < limit[queue]) {
        if (!tryPost(queue, list.front().attempt, list.front().peer)) {
          if (queue == kTx) noteRefused(list.front().peer);
          break;
        }
        // A post that failed for good ran failAll, which empties every waiting list.
        if (list.empty()) break;
        if (queue == kTx) txRefusedSince.reset();
        list.pop_front();
      }
    }
  }

  bool anyWaiting() const { return !waiting[kTx].empty() || !waiting[kRx].empty(); }

  // --- operations --------------------------------------------------------------------------
  bool usesRma(std::size_t bytes) const { return rmaEnabled && bytes != 0 && bytes >= params.rmaBytes; }
  std::uint32_t piecesOf(std::size_t bytes) const {
    return static_cast<std::uint32_t>((bytes + maxWrite - 1) / maxWrite);
  }

  Peer* peerOf(int rank) {
    if (rank < 0 || rank >= params.size || rank == params.rank) return nullptr;
    Peer& peer = peers[static_cast<std::size_t>(rank)];
    return peer.reachable ? &peer : nullptr;
  }

  // The peer a send or receive goes to, or nullptr after queueing `done` with the reason there
  // is none (the transport is shut down, or the rank cannot be reached). Under `mutex`.
  Peer* accept(int rank, Completion& done) {
    if (shutDown || doomed) {
      due.emplace_back(std::move(done), shutDown ? failure : *doomed);
      return nullptr;
    }
    Peer* peer = peerOf(rank);
    if (peer == nullptr) {
      due.emplace_back(std::move(done),
                       Status::make(ErrorCode::Internal, "ofi: rank {} cannot reach rank {}", params.rank, rank));
    } else if (!peer->gone.empty()) {
      due.emplace_back(std::move(done), lostStatus(rank));
      return nullptr;
    }
    return peer;
  }

  // --- liveness (peer_liveness.hpp) --------------------------------------------------------
  std::string describe(int rank) const {
    const Peer& peer = peers[static_cast<std::size_t>(rank)];
    if (peer.pid > 0) return fmt::format("rank {} (ofi {} at {}, pid {})", rank, providerName, peer.where, peer.pid);
    return fmt::format("rank {} (ofi {} at {})", rank, providerName, peer.where);
  }

  Status lostStatus(int rank) const {
    return Status::make(ErrorCode::Remote, "{} {}", describe(rank), peers[static_cast<std::size_t>(rank)].gone)
        .withLostPeer(rank, peers[static_cast<std::size_t>(rank)].exited);
  }

  bool waitsOn(int rank) const {
    for (const Context* context : live) {
      if (peerOfContext(context) == rank) return true;
    }
    return false;
  }

  // The peer's process exited (exit watch). Under `mutex`. It is not lost yet: a peer that
  // finished its last call and exited normally may have sent what this rank still waits for,
  // and over tcp;ofi_rxm those bytes can still sit in a socket the provider has not read (the
  // exit and the data travel separately; seen: 5 ranks, the last allgather failed on the rank
  // that finished first). settleExited() declares it lost after kExitGrace.
  // Over shm the peer wrote into this rank's own region, so one read has all it sent, and
  // waiting would be harmful: a survivor still sending to the dead rank can spin for ever on a
  // lock the dead rank held (docs/ofi.md, known problems), so there it is lost at once.
  void peerExited(int rank) {
    Peer& peer = peers[static_cast<std::size_t>(rank)];
    if (shutDown || !peer.gone.empty() || peer.exitedAt) return;
    peer.exitedAt = std::chrono::steady_clock::now();
    if (providerName == "shm") {
      *peer.exitedAt -= kExitGrace;  // no grace
      settleExited(readQueue());     // or the next poll's, if this read found something
    }
  }

  // Peers whose process exited at least kExitGrace ago, with a read of the queue since that
  // found nothing (`read`: completions the caller's read just found), are lost. Under `mutex`.
  void settleExited(std::size_t read) {
    if (shutDown || read > 0) return;
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t index = 0; index < peers.size() && !shutDown; ++index) {
      Peer& peer = peers[index];
      if (!peer.exitedAt || !peer.gone.empty() || now - *peer.exitedAt < kExitGrace) continue;
      const int rank = static_cast<int>(index);
      peer.gone = "closed its endpoint: the process exited";
      peer.exited = true;
      removeDeadRegion(peer);
      // The executor fails the whole collective on one peer's failure, and this transport
      // closes its endpoint on any error (failAll): nothing finer to keep.
      if (waitsOn(rank)) failAll(lostStatus(rank));
    }
  }

  // The first held transmit, to `rank`, met -FI_EAGAIN again. tcp;ofi_rxm answers every send
  // to a peer whose process is gone that way, for ever (its connection closed, reconnecting is
  // refused): after kRefusedBound of it, towards a peer that had been reached and whose process
  // is not watched, the peer is lost. (The first contact also meets -FI_EAGAIN, hence
  // `reached`.) Under `mutex`.
  void noteRefused(int rank) {
    const auto now = std::chrono::steady_clock::now();
    if (!txRefusedSince) txRefusedSince = now;
    if (rank < 0 || now - *txRefusedSince < kRefusedBound) return;
    Peer& peer = peers[static_cast<std::size_t>(rank)];
    if (!peer.reached || peer.exitWatch || !peer.gone.empty()) return;
    peer.gone = fmt::format("cannot be reached: {} has refused every send to it for {} ms (-FI_EAGAIN)", providerName,
                            std::chrono::duration_cast<std::chrono::milliseconds>(now - *txRefusedSince).count());
    failAll(lostStatus(rank));
  }

  // libfabric 1.17's shm provider keeps each endpoint's region in /dev/shm under the name in its
  // address (fi_shm://<pid>:<n>:<m>) and removes it only when the endpoint closes: a killed
  // rank leaves it behind (a few MB of memory each), and a later process that gets the same pid
  // then fails fi_enable with EBUSY. The peers that see it die remove it; the first one does,
  // the others find it gone.
  void removeDeadRegion(const Peer& peer) {
    constexpr std::string_view kPrefix = "fi_shm://";
    if (providerName != "shm" || peer.where.rfind(kPrefix, 0) != 0) return;
    const std::string name = peer.where.substr(kPrefix.size());
    if (!name.empty() && name.find('/') == std::string::npos) ::shm_unlink(name.c_str());
  }

  // The other half of removeDeadRegion: when every rank of a job died, nobody removed their
  // regions, and this process may have inherited one of their pids. A region named after this
  // pid that exists before this process opened its first shm endpoint is such a leftover (pids
  // are unique among live processes), so the first open removes them; later opens in the same
  // process must not, since those regions are its own and live.
  static void removeStaleOwnRegions() {
    static std::atomic<pid_t> cleanedFor{0};
    const pid_t self = ::getpid();
    if (cleanedFor.exchange(self) == self) return;
    const std::string prefix = fmt::format("{}:", self);
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", error)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) == 0) ::shm_unlink(name.c_str());
    }
  }

  // One probe at a time to each peer with operations outstanding, every kProbeInterval.
  // Under `mutex`.
  void probePeers() {
    const auto now = std::chrono::steady_clock::now();
    if (shutDown || now < nextProbeRound || live.empty()) return;
    nextProbeRound = now + kProbeInterval / 4;
    std::vector<bool> waited(peers.size(), false);
    for (const Context* context : live) {
      const int rank = peerOfContext(context);
      if (rank >= 0) waited[static_cast<std::size_t>(rank)] = true;
    }
    for (std::size_t rank = 0; rank < peers.size(); ++rank) {
      Peer& peer = peers[rank];
      // A watched process needs no probe (and over shm a probe can do harm: peer_liveness.hpp).
      if (!waited[rank] || !peer.reachable || peer.probing || peer.exitWatch) continue;
      // The first round only starts the clock: short operations never see a probe.
      if (peer.probedAt == std::chrono::steady_clock::time_point{}) {
        peer.probedAt = now;
        continue;
      }
      if (now - peer.probedAt < kProbeInterval) continue;
      peer.probedAt = now;
      peer.probing = true;
      ControlMessage probe;
      probe.kind = ControlKind::Probe;
      probe.from = params.rank;
      sendControl(static_cast<int>(rank), probe);
    }
  }

  void finish(SendOp* op, const Status& status) {
    if (op->pinnedLocal) registry->unpinLocal(op->data, op->bytes);
    if (!op->detached) due.emplace_back(std::move(op->done), status);
    if (op->detached) --detachedLive;
    live.erase(op);
    delete op;
  }

  void finish(RecvOp* op, const Status& status) {
    if (op->pinned) {
      if (op->rma) {
        registry->unpin(op->data, op->bytes);
      } else {
        registry->unpinLocal(op->data, op->bytes);
      }
    }
    if (op->rma) rmaRecvs.erase(op->id);
    if (!op->rma && status.isOk()) eagerReceived(op->peer);
    due.emplace_back(std::move(op->done), status);
    live.erase(op);
    delete op;
  }

  void postEagerSend(SendOp* op, const Peer& peer) {
    void* desc = registry->localDescriptor(op->data, op->bytes);
    op->pinnedLocal = registry->localRequired();
    const fi_addr_t dest = peer.addr;
    const std::uint64_t tag = dataTag(params.rank, op->seq);
    post(kTx, [this, op, desc, dest, tag] {
      return cqDataMask != 0 ? fi_tsenddata(ep, op->data, op->bytes, desc, op->tag & cqDataMask, dest, tag, &op->fi)
                             : fi_tsend(ep, op->data, op->bytes, desc, dest, tag, &op->fi);
    }, op->peer);
  }

  // An eager send goes out now if the peer has a credit for it and none is waiting before it.
  // Otherwise it waits for one from a copy, and its caller is told at once that it completed:
  // the collectives count on eager sends completing without the receiver (a rank reuses a
  // slot once its send completed, and only then posts the receive its peer's progress needs),
  // and a send that waited for the receiver's credit could close that circle (seen: 5 ranks,
  // 1 MiB in 64-byte slices, every rank's sends held and every receive unposted).
  void sendEager(SendOp* op, Peer& peer) {
    if (peer.heldForCredit.empty() && credits.take(op->peer)) {
      postEagerSend(op, peer);
      return;
    }
    op->copy.assign(op->data, op->data + op->bytes);
    op->data = op->copy.data();
    op->detached = true;
    ++detachedLive;
    due.emplace_back(std::move(op->done), Status::ok());
    peer.heldForCredit.push_back(op);
  }

  // The peer gave credits back: the sends that waited for them go, in order.
  void creditsArrived(int rank, std::uint32_t count) {
    Peer& peer = peers[static_cast<std::size_t>(rank)];
    credits.give(rank, count);
    while (!shutDown && !peer.heldForCredit.empty() && credits.take(rank)) {
      SendOp* op = peer.heldForCredit.front();
      peer.heldForCredit.pop_front();
      postEagerSend(op, peer);
    }
  }

  // An eager receive is posted now if its peer has fewer than its share posted.
  void receiveEager(RecvOp* op, Peer& peer) {
    if (peer.heldReceives.empty() && credits.mayPost(op->peer)) {
      postEagerRecv(op);
    } else {
      peer.heldReceives.push_back(op);
    }
  }

  // A message from `rank` was received: its next held receive goes up, and its sender gets
  // credits back once a batch has come.
  void eagerReceived(int rank) {
    if (!credits.enabled()) return;
    const std::uint32_t count = credits.received(rank);
    Peer& peer = peers[static_cast<std::size_t>(rank)];
    while (!shutDown && !peer.heldReceives.empty() && credits.mayPost(rank)) {
      RecvOp* next = peer.heldReceives.front();
      peer.heldReceives.pop_front();
      postEagerRecv(next);
    }
    if (count > 0 && !shutDown) {
      ControlMessage credit;
      credit.kind = ControlKind::Credit;
      credit.from = params.rank;
      credit.pieces = count;
      sendControl(rank, credit);
    }
  }

  void postEagerRecv(RecvOp* op) {
    void* desc = registry->localDescriptor(op->data, op->bytes);
    op->pinned = registry->localRequired();
    const std::uint64_t tag = dataTag(op->peer, op->seq);
    // Directed: only the peer's address matches (membership.hpp).
    const fi_addr_t from = checkSources ? peers[static_cast<std::size_t>(op->peer)].addr : FI_ADDR_UNSPEC;
    if (guard) {
      // The user's buffer, then the guard: a longer message lands its excess there and
      // completes with its whole length, which the length check below reports.
      post(kRx, [this, op, desc, tag, from] {
        iovec iov[2] = {{op->data, op->bytes}, {guard->data(), guard->size()}};
        void* descs[2] = {desc, nullptr};
        return fi_trecvv(ep, iov, descs, 2, from, tag, 0, &op->fi);
      });
      return;
    }
    post(kRx, [this, op, desc, tag, from] { return fi_trecv(ep, op->data, op->bytes, desc, from, tag, 0, &op->fi); });
  }

  void postRmaRecv(RecvOp* op, Peer& peer) {
    const Region region = registry->pin(op->data, op->bytes);
    op->pinned = true;
    op->id = nextId++ & (cqDataMask != 0 ? cqDataMask : ~std::uint64_t{0});
    op->piecesLeft = piecesOf(op->bytes);
    rmaRecvs[op->id] = op;
    ControlMessage ready;
    ready.kind = ControlKind::Ready;
    ready.from = params.rank;
    ready.pieces = op->piecesLeft;
    ready.seq = op->seq;
    ready.bytes = op->bytes;
    ready.operation = op->tag;
    ready.address = region.address;
    ready.key = region.key;
    ready.id = op->id;
    sendControl(static_cast<int>(&peer - peers.data()), ready);
  }

  // The receiver is ready for `op`: check that both sides mean the same message, then write it.
  // Whether the receiver's Ready describes the message `op` sends; if not, fails
  // both sides with the mismatch (the operation tag the receiver expects is its call's).
  bool agrees(SendOp* op, const ControlMessage& expected) {
    const bool same = expected.bytes == op->bytes && expected.operation == op->tag &&
                      expected.pieces == piecesOf(op->bytes);
    if (!same) {
      failMismatch(op->peer, op->seq, op->bytes, op->tag,
                   Status::make(ErrorCode::Remote,
                                "ofi: rank {} expects {} bytes for operation {} as message {} from rank {}, but rank {} "
                                "sends {} bytes for operation {} (the ranks disagree on the sequence of collectives)",
                                op->peer, expected.bytes, expected.operation, op->seq, params.rank, params.rank,
                                op->bytes, op->tag)
                       .withMismatch(op->peer, expected.operation));
    }
    return same;
  }

  // Tells `peerRank` that message `seq` does not fit (with this side's length and operation),
  // then fails here once that word has left (or after a short bound: the peer may be gone).
  void failMismatch(int peerRank, std::uint64_t seq, std::uint64_t bytes, std::uint64_t operation, const Status& why) {
    if (shutDown || doomed) return;
    doomed = why;
    doomedBy = std::chrono::steady_clock::now() + kTellBound;
    ControlMessage tell;
    tell.kind = ControlKind::Mismatch;
    tell.from = params.rank;
    tell.seq = seq;
    tell.bytes = bytes;
    tell.operation = operation;
    sendControl(peerRank, tell);
  }

  // Ends a doomed transport once its Mismatch message has left or its time is up.
  void settleDoomed(bool told) {
    if (doomed && !shutDown && (told || std::chrono::steady_clock::now() >= doomedBy)) {
      const Status why = *doomed;
      failAll(why);
    }
  }

  void startWrites(SendOp* op, const ControlMessage& ready) {
    if (!agrees(op, ready)) return;
    const Peer& peer = peers[static_cast<std::size_t>(op->peer)];
    void* desc = registry->localDescriptor(op->data, op->bytes);
    op->pinnedLocal = registry->localRequired();
    op->id = ready.id;
    op->writesLeft = ready.pieces;
    for (std::uint32_t i = 0; i < ready.pieces; ++i) {
      const std::size_t offset = static_cast<std::size_t>(i) * maxWrite;
      const std::size_t length = std::min(maxWrite, op->bytes - offset);
      auto* write = new WriteOp(op);
      live.insert(write);
      const fi_addr_t dest = peer.addr;
      const std::uint64_t address = ready.address + offset;
      const std::uint64_t key = ready.key;
      const std::byte* from = op->data + offset;
      if (notify == RmaNotify::CqData) {
        post(kTx, [this, write, from, length, desc, dest, address, key, id = ready.id] {
          return fi_writedata(ep, from, length, desc, id, dest, address, key, &write->fi);
        }, op->peer);
      } else {
        // Delivery complete: once the write completes here the data is in place there, so the
        // Done message that follows cannot overtake it.
        post(kTx, [this, write, from, length, desc, dest, address, key] {
          iovec iov{const_cast<std::byte*>(from), length};
          void* descs[1] = {desc};
          fi_rma_iov rma{address, length, key};
          fi_msg_rma msg{};
          msg.msg_iov = &iov;
          msg.desc = descs;
          msg.iov_count = 1;
          msg.addr = dest;
          msg.rma_iov = &rma;
          msg.rma_iov_count = 1;
          msg.context = &write->fi;
          return fi_writemsg(ep, &msg, FI_COMPLETION | FI_DELIVERY_COMPLETE);
        }, op->peer);
      }
    }
  }

  // --- control messages --------------------------------------------------------------------
  void sendControl(int peerRank, const ControlMessage& message) {
    if (freeSendSlots.empty()) {
      pendingControl.emplace_back(peerRank, message);
      return;
    }
    const std::size_t index = freeSendSlots.back();
    freeSendSlots.pop_back();
    ControlOp& control = controlOps[index];
    control.kind = Context::Kind::ControlSend;
    control.peer = peerRank;
    *control.slot = message;
    if (params.key) seal(*control.slot, peerRank, *params.key);
    const fi_addr_t dest = peers[static_cast<std::size_t>(peerRank)].addr;
    post(kTx, [this, &control, dest] {
      return fi_tsend(ep, control.slot, sizeof(ControlMessage), arenaDesc, dest, kControlTag, &control.fi);
    }, peerRank);
  }

  // Every control message carries exactly kControlTag, so its receives match that tag exactly
  // (ignore 0), like every other receive here. Never an ignore mask: libfabric 1.17's shm reuses
  // a receive's entry for an unexpected message without resetting its ignore bits, and matches
  // a later receive against the unexpected message through those stale bits, so after a
  // masked receive an early data message could complete another peer's receive (wrong sums),
  // and its own receive then waited for ever (docs/ofi.md, "Three shm bugs").
  void postControlRecv(ControlOp& control, bool first = false) {
    control.kind = Context::Kind::ControlRecv;
    std::function<ssize_t()> attempt;
    if (guard && params.key) {
      // A stranger's longer message must not reach shm's endless copy (receive_guard.hpp).
      attempt = [this, &control] {
        iovec iov[2] = {{control.slot, sizeof(ControlMessage)}, {guard->data(), guard->size()}};
        void* descs[2] = {arenaDesc, nullptr};
        return fi_trecvv(ep, iov, descs, 2, FI_ADDR_UNSPEC, kControlTag, 0, &control.fi);
      };
    } else {
      attempt = [this, &control] {
        return fi_trecv(ep, control.slot, sizeof(ControlMessage), arenaDesc, FI_ADDR_UNSPEC, kControlTag, 0,
                        &control.fi);
      };
    }
    if (first) {
      post(kRx, attempt);
    } else {
      repostControl(attempt);
    }
  }

  // Whether a control message came from the rank it names, where sources are checked
  // (membership.hpp); if not, it is dropped and logged. Under `mutex`.
  bool fromMember(const ControlMessage& message, std::size_t length, fi_addr_t source) {
    if (!params.key) return true;
    const bool known = message.from >= 0 && message.from < params.size && message.from != params.rank;
    if (length == sizeof(ControlMessage) && known && peers[static_cast<std::size_t>(message.from)].reachable &&
        (!checkSources || peers[static_cast<std::size_t>(message.from)].addr == source) &&
        sealed(message, params.rank, *params.key)) {
      return true;
    }
    strangers.dropped(providerName,
                      fmt::format("a control message of {} bytes claiming rank {}", length, message.from));
    return false;
  }

  void handleControl(const ControlMessage& message) {
    // Not peerOf(): a peer's Ready may arrive before connect() has added its address here (the
    // helper thread reads the queue from the start), and is kept for the send that will follow.
    const bool known = message.from >= 0 && message.from < params.size && message.from != params.rank;
    if (message.magic != ControlMessage::kMagic || !known) {
      failAll(Status::make(ErrorCode::Remote,
                           "ofi: rank {} received a control message that is not banyan's (magic {:#x}, sender {})",
                           params.rank, message.magic, message.from));
      return;
    }
    Peer* peer = &peers[static_cast<std::size_t>(message.from)];
    if (message.kind == ControlKind::Ready) {
      auto it = peer->awaitingReady.find(message.seq);
      if (it == peer->awaitingReady.end()) {
        peer->earlyReady[message.seq] = message;
        return;
      }
      SendOp* op = it->second;
      peer->awaitingReady.erase(it);
      startWrites(op, message);
    } else if (message.kind == ControlKind::Mismatch) {
      failAll(Status::make(ErrorCode::Remote,
                           "ofi: rank {} found that message {} between it and rank {} does not fit: rank {} has {} "
                           "bytes for operation {} there (the ranks disagree on the sequence of collectives)",
                           message.from, message.seq, params.rank, message.from, message.bytes, message.operation)
                  .withMismatch(message.from, message.operation));
    } else if (message.kind == ControlKind::Done) {
      writeArrived(message.id, true);
    } else if (message.kind == ControlKind::Probe) {
      // Only its sender's side matters: the send fails if this process is gone.
    } else if (message.kind == ControlKind::Credit) {
      creditsArrived(message.from, message.pieces);
    } else {
      failAll(Status::make(ErrorCode::Remote, "ofi: rank {} sent a control message of unknown kind {}", message.from,
                           static_cast<std::uint32_t>(message.kind)));
    }
  }

  // Remote CQ data (one per piece) or a Done message (all pieces) for the receive `id`.
  void writeArrived(std::uint64_t id, bool all) {
    auto it = rmaRecvs.find(id);
    if (it == rmaRecvs.end()) {
      failAll(Status::make(ErrorCode::Remote,
                           "ofi: rank {} was told of a write into receive {}, which it is not "
                           "waiting for",
                           params.rank, id));
      return;
    }
    RecvOp* op = it->second;
    op->piecesLeft = all ? 0 : op->piecesLeft - 1;
    if (op->piecesLeft == 0) finish(op, Status::ok());
  }

  // --- completions -------------------------------------------------------------------------
  // `source`: the completion's source address where sources are checked.
  void dispatch(const fi_cq_data_entry& entry, fi_addr_t source) {
    // A peer's write into this rank is known by its flags, not by a null context: libfabric
    // 1.17's shm fills the target's op_context with the writer's message id (a value from the
    // writer's address space; dereferencing it crashed 4- and 5-rank RMA runs).
    if ((entry.flags & FI_REMOTE_WRITE) != 0) {
      if ((entry.flags & FI_REMOTE_CQ_DATA) != 0) writeArrived(entry.data & cqDataMask, false);
      return;
    }
    if (entry.op_context == nullptr) return;
    auto* context = static_cast<Context*>(entry.op_context);
    const bool received = context->kind == Context::Kind::Recv || context->kind == Context::Kind::ControlRecv;
    if (const int peer = peerOfContext(context); peer >= 0) peers[static_cast<std::size_t>(peer)].reached = true;
    --posted[received ? kRx : kTx];
    switch (context->kind) {
      case Context::Kind::Send:
        finish(static_cast<SendOp*>(context), Status::ok());
        return;
      case Context::Kind::Recv: {
        auto* op = static_cast<RecvOp*>(context);
        if (entry.len != op->bytes) {
          failMismatch(op->peer, op->seq, op->bytes, op->tag, Status::make(ErrorCode::Remote,
                               "ofi: rank {} sent {} bytes as message {} to rank {}, which expected {} bytes for "
                               "operation {} (the ranks disagree on the sequence of collectives)",
                               op->peer, entry.len, op->seq, params.rank, op->bytes, op->tag)
                      .withMismatch(op->peer, 0));  // the sender's operation is not on the wire here
          return;
        }
        if (cqDataMask != 0 && (entry.flags & FI_REMOTE_CQ_DATA) != 0 && entry.data != (op->tag & cqDataMask)) {
          failMismatch(op->peer, op->seq, op->bytes, op->tag, Status::make(ErrorCode::Remote,
                               "ofi: rank {} sent message {} for operation {}, but rank {} expected it for operation "
                               "{} (the ranks disagree on the sequence of collectives)",
                               op->peer, op->seq, entry.data, params.rank, op->tag & cqDataMask)
                                                                      .withMismatch(op->peer, entry.data));
          return;
        }
        finish(op, Status::ok());
        return;
      }
      case Context::Kind::Write: {
        auto* write = static_cast<WriteOp*>(context);
        SendOp* op = write->send;
        live.erase(write);
        delete write;
        if (--op->writesLeft == 0) {
          if (notify == RmaNotify::Message) {
            ControlMessage done;
            done.kind = ControlKind::Done;
            done.from = params.rank;
            done.seq = op->seq;
            done.id = op->id;
            sendControl(op->peer, done);
          }
          finish(op, Status::ok());
        }
        return;
      }
      case Context::Kind::ControlSend: {
        auto& control = *static_cast<ControlOp*>(context);
        if (control.slot->kind == ControlKind::Probe) peers[static_cast<std::size_t>(control.peer)].probing = false;
        if (control.slot->kind == ControlKind::Mismatch) {
          settleDoomed(true);
          return;
        }
        freeSendSlots.push_back(static_cast<std::size_t>(&control - controlOps.data()));
        if (!pendingControl.empty()) {
          auto [peer, message] = pendingControl.front();
          pendingControl.pop_front();
          sendControl(peer, message);
        }
        return;
      }
      case Context::Kind::ControlRecv: {
        auto& control = *static_cast<ControlOp*>(context);
        const ControlMessage message = *control.slot;
        postControlRecv(control);
        if (fromMember(message, entry.len, source)) handleControl(message);
        return;
      }
    }
  }

  std::string describeContext(const Context* context) const {
    switch (context->kind) {
      case Context::Kind::Send: {
        const auto* op = static_cast<const SendOp*>(context);
        return fmt::format("sending {} bytes to rank {}", op->bytes, op->peer);
      }
      case Context::Kind::Recv: {
        const auto* op = static_cast<const RecvOp*>(context);
        return fmt::format("receiving {} bytes from rank {}", op->bytes, op->peer);
      }
      case Context::Kind::Write: {
        const auto* op = static_cast<const WriteOp*>(context)->send;
        return fmt::format("writing {} bytes into rank {}", op->bytes, op->peer);
      }
      case Context::Kind::ControlSend:
        return fmt::format("sending a control message to rank {}", static_cast<const ControlOp*>(context)->peer);
      case Context::Kind::ControlRecv:
        return "receiving a control message";
    }
    return "?";
  }

  // The peer an operation is with, or -1 (a control receive: any peer).
  static int peerOfContext(const Context* context) {
    switch (context->kind) {
      case Context::Kind::Send:
        return static_cast<const SendOp*>(context)->peer;
      case Context::Kind::Recv:
        return static_cast<const RecvOp*>(context)->peer;
      case Context::Kind::Write:
        return static_cast<const WriteOp*>(context)->send->peer;
      case Context::Kind::ControlSend:
        return static_cast<const ControlOp*>(context)->peer;
      case Context::Kind::ControlRecv:
        return -1;
    }
    return -1;
  }

  void readError() {
    fi_cq_err_entry error{};
    if (fi_cq_readerr(cq, &error, 0) <= 0) return;
    if (error.err == FI_ECANCELED && shutDown) return;
    // No rank sends a control message longer than the receive: one that is (checked sources
    // only; membership.hpp) is a stranger's, dropped like the others.
    if (params.key && error.err == FI_ETRUNC && error.op_context != nullptr &&
        static_cast<const Context*>(error.op_context)->kind == Context::Kind::ControlRecv) {
      --posted[kRx];
      postControlRecv(*static_cast<ControlOp*>(error.op_context));
      strangers.dropped(providerName, fmt::format("a control message of {} bytes", error.olen + error.len));
      return;
    }
    const char* detail = fi_cq_strerror(cq, error.prov_errno, error.err_data, nullptr, 0);
    const std::string what = error.op_context != nullptr
                                 ? describeContext(static_cast<const Context*>(error.op_context))
                                 : std::string("a remote write");
    if (error.err == FI_ETRUNC && error.op_context != nullptr &&
        static_cast<const Context*>(error.op_context)->kind == Context::Kind::Recv) {
      const auto* op = static_cast<const RecvOp*>(error.op_context);
      failMismatch(op->peer, op->seq, op->bytes, op->tag, Status::make(ErrorCode::Remote,
                           "ofi: rank {} sent message {} to rank {} longer than the {} bytes expected for operation {} "
                           "(the ranks disagree on the sequence of collectives)",
                           op->peer, op->seq, params.rank, op->bytes, op->tag)
                  .withMismatch(op->peer, 0));  // the sender's operation is not on the wire here
      return;
    }
    // An operation with one peer that fails (other than by truncation, above) means that peer
    // cannot be reached: recorded, so the runtime asks the store whether it had failed first
    // (src/runtime/communicator_failures.cpp), as over tcp and shm.
    const int peer = error.op_context != nullptr ? peerOfContext(static_cast<const Context*>(error.op_context)) : -1;
    if (peer >= 0) {
      Peer& lost = peers[static_cast<std::size_t>(peer)];
      if (lost.gone.empty()) {
        lost.gone = fmt::format("cannot be reached: rank {} {} failed: {}{}{}", params.rank, what,
                                fi_strerror(error.err), detail != nullptr ? ": " : "", detail != nullptr ? detail : "");
      }
      failAll(lostStatus(peer));
      return;
    }
    failAll(Status::make(ErrorCode::Remote, "ofi ({}): rank {} {} failed: {}{}{}", providerName, params.rank, what,
                         fi_strerror(error.err), detail != nullptr ? ": " : "", detail != nullptr ? detail : ""));
  }

  // Reads every completion there is (which is also what drives providers with manual
  // progress); returns how many.
  std::size_t readQueue() {
    std::size_t count = 0;
    fi_cq_data_entry entries[16];
    fi_addr_t sources[16];
    while (!shutDown) {
      ssize_t ret = 0;
      {
        ProviderWatchdog::Inside inside(watchdog.get());
        ret = checkSources ? fi_cq_readfrom(cq, entries, std::size(entries), sources)
                           : fi_cq_read(cq, entries, std::size(entries));
      }
      if (ret > 0) {
        for (ssize_t i = 0; i < ret && !shutDown; ++i) dispatch(entries[i], checkSources ? sources[i] : FI_ADDR_UNSPEC);
        count += static_cast<std::size_t>(ret);
        continue;
      }
      if (ret == -FI_EAGAIN) break;
      if (ret == -FI_EAVAIL) {
        readError();
        ++count;
        continue;
      }
      failAll(Status::make(ErrorCode::System, "ofi: reading the completion queue: {}", fiText(ret)));
      break;
    }
    return count;
  }

  // Closes the endpoint (which cancels everything posted: no buffer of a failed operation is
  // touched after its completion ran), fails every operation, drops every registration.
  void failAll(const Status& failed) {
    if (shutDown) return;
    // A mismatch found first stays the reason: the peer closing on us (it found the same
    // mismatch) or our own Mismatch message failing to leave is only its echo.
    const Status why = doomed ? *doomed : failed;
    shutDown = true;
    failure = why;
    if (ep != nullptr) {
      fi_close(&ep->fid);
      ep = nullptr;
    }
    waiting[kTx].clear();
    waiting[kRx].clear();
    pendingControl.clear();
    for (Context* context : live) {
      if (context->kind == Context::Kind::Send) {
        auto* op = static_cast<SendOp*>(context);
        if (!op->detached) due.emplace_back(std::move(op->done), why);
        delete op;
      } else if (context->kind == Context::Kind::Recv) {
        auto* op = static_cast<RecvOp*>(context);
        due.emplace_back(std::move(op->done), why);
        delete op;
      } else {
        delete static_cast<WriteOp*>(context);
      }
    }
    live.clear();
    detachedLive = 0;
    rmaRecvs.clear();
    for (auto& peer : peers) {
      peer.awaitingReady.clear();
      peer.earlyReady.clear();
      peer.heldForCredit.clear();  // the operations themselves were in `live`
      peer.heldReceives.clear();
    }
    if (registry) registry->clear();
  }

  // Before the endpoint closes with nothing of the caller's outstanding, the sends it was told
  // had completed (held for credit) still leave: a rank that finished its last collective
  // must not take with it the messages its peers still wait for. Bounded by BANYAN_TIMEOUT,
  // and ends at once when such a peer's process has exited. Under `lock`.
  void drainDetached(std::unique_lock<std::mutex>& lock) {
    const auto deadline = std::chrono::steady_clock::now() + params.timeout;
    while (!shutDown && detachedLive > 0 && live.size() == detachedLive &&
           std::chrono::steady_clock::now() < deadline) {
      readQueue();
      retryBlocked();
      for (std::size_t rank = 0; rank < peers.size(); ++rank) {
        if (!peers[rank].heldForCredit.empty() && processEnded(peers[rank])) return;
      }
      lock.unlock();
      std::this_thread::sleep_for(kNap);
      lock.lock();
    }
  }

  // Whether a watched peer's process has ended, asked of its exit watch's descriptor (or of the
  // kernel by pid where there is none), outside the event loop.
  static bool processEnded(const Peer& peer) {
    if (peer.pid <= 0) return false;
    if (peer.exitWatch) {
      pollfd entry{peer.exitWatch->native_handle(), POLLIN, 0};
      return ::poll(&entry, 1, 0) > 0;
    }
    return ::kill(peer.pid, 0) != 0 && errno == ESRCH;
  }

  void helperLoop();
};

void OfiTransport::Impl::open() {
  providerName = info->fabric_attr->prov_name;
  auto check = [&](int ret, const char* call) {
    if (ret != 0) fail(ErrorCode::System, "ofi ({}): {}: {}", providerName, call, fiText(ret));
  };
  check(fi_fabric(info->fabric_attr, &fabric, nullptr), "fi_fabric");
  check(fi_domain(fabric, info.get(), &domain, nullptr), "fi_domain");

  fi_cq_attr cqAttr{};
  cqAttr.format = FI_CQ_FORMAT_DATA;
  cqAttr.wait_obj = FI_WAIT_FD;
  if (fi_cq_open(domain, &cqAttr, &cq, nullptr) != 0) {
    cqAttr.wait_obj = FI_WAIT_NONE;  // the provider has no descriptor to wait on: the driver naps
    check(fi_cq_open(domain, &cqAttr, &cq, nullptr), "fi_cq_open");
  } else if (fi_control(&cq->fid, FI_GETWAIT, &waitFd) != 0) {
    waitFd = -1;
  }

  fi_av_attr avAttr{};
  avAttr.type = info->domain_attr->av_type != FI_AV_UNSPEC ? info->domain_attr->av_type : FI_AV_TABLE;
  check(fi_av_open(domain, &avAttr, &av, nullptr), "fi_av_open");
  if (providerName == "shm") removeStaleOwnRegions();
  // libfabric 1.17's sockets offers total_buffered_recv 0: a message that comes before its
  // receive is posted is then left in the socket, and the connection carries nothing more
  // until that receive is posted ("Exceeded buffered recv limit" at FI_LOG_LEVEL=warn, tens of
  // thousands of times a call with 64-byte slices). Early messages are the rule in pipelined
  // collectives, so ask for the provider's largest buffer (its endpoint takes the value from
  // this info); past it, the connection waits as before.
  if (providerName == "sockets" && info->rx_attr->total_buffered_recv < kSocketsBufferedBytes) {
    info->rx_attr->total_buffered_recv = kSocketsBufferedBytes;
  }
  check(fi_endpoint(domain, info.get(), &ep, nullptr), "fi_endpoint");
  check(fi_ep_bind(ep, &av->fid, 0), "fi_ep_bind(av)");
  check(fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind(cq)");
  check(fi_enable(ep), "fi_enable");

  const int mrMode = info->domain_attr->mr_mode;
  registry = std::make_unique<MemoryRegistry>(domain, ep, mrMode, params.registrationCache,
                                              info->domain_attr->mr_key_size);
  checkSources = params.key && (info->caps & kMembershipCaps) == kMembershipCaps;
  rmaEnabled = (info->caps & FI_RMA) != 0 && params.rmaBytes != 0;
  const std::size_t dataBytes = info->domain_attr->cq_data_size;
  cqDataMask = dataBytes >= 8 ? ~std::uint64_t{0} : dataBytes >= 4 ? 0xffffffffULL : 0;
  notify = cqDataMask == 0 ? RmaNotify::Message : params.notify;
  maxWrite = static_cast<std::size_t>(std::min<std::uint64_t>(info->ep_attr->max_msg_size, std::uint64_t{1} << 30));
  if (maxWrite == 0) maxWrite = std::size_t{1} << 30;
  // libfabric 1.17's shm copies a message longer than its inject size by cross-memory attach,
  // and that copy loops forever (process_vm_readv with an exhausted local iovec, returning 0)
  // when the receive is shorter than the message: give every receive room to spare.
  if (providerName == "shm") guard = std::make_unique<ReceiveGuard>();
  if (providerName == "shm") {
    watchdog = std::make_unique<ProviderWatchdog>(kSpinBound, fmt::format("rank {} (ofi shm)", params.rank));
  }
  if (params.size > kMaxRanks) {
    fail(ErrorCode::NotSupported, "ofi: {} ranks; the transport's tags hold at most {}", params.size, kMaxRanks);
  }
  peers.resize(static_cast<std::size_t>(params.size));
  limit[kTx] = info->tx_attr->size != 0 ? info->tx_attr->size : SIZE_MAX;
  limit[kRx] = info->rx_attr->size != 0 ? info->rx_attr->size : SIZE_MAX;
  if (providerName == "shm" && info->rx_attr->size != 0) {
    // Posted receives and unexpected messages share shm's pool: shared out among the peers,
    // less room for control messages (flow_control.hpp). The per-peer shares keep the posted
    // receives well below rx_attr->size, so the count above never holds one back.
    credits = Credits(peers.size(), Credits::windowFor(info->rx_attr->size, 2 * kControlReceives,
                                                       static_cast<std::size_t>(params.size - 1)));
  } else if (info->rx_attr->size != 0) {
    // The others keep early messages apart from posted receives (sockets in the buffer asked
    // for above), so only the receive queue is shared out among the peers (flow_control.hpp).
    credits = Credits::receiveShares(peers.size(), info->rx_attr->size, kControlReceives,
                                     static_cast<std::size_t>(params.size - 1));
  }

  arena.resize(kControlReceives + kControlSends);
  controlOps.resize(arena.size());
  for (std::size_t i = 0; i < arena.size(); ++i) controlOps[i].slot = &arena[i];
  if (registry->localRequired()) arenaDesc = registry->pin(arena.data(), arena.size() * sizeof(ControlMessage)).desc;
  for (std::size_t i = 0; i < kControlReceives; ++i) postControlRecv(controlOps[i], true);
  for (std::size_t i = arena.size(); i > kControlReceives; --i) freeSendSlots.push_back(i - 1);
  if (shutDown) failure.throwIfError();

  description = fmt::format("{}, {}, {}, large messages from {} B by {}", describeProvider(*info),
                            checkSources  ? "receives only from the job's addresses, sealed control messages"
                            : params.key ? "sources not checked, sealed control messages"
                                         : "not authenticated",
                            waitFd >= 0 ? "waits on a descriptor" : "no wait descriptor (naps)", params.rmaBytes,
                            rmaEnabled ? (notify == RmaNotify::CqData ? "RMA write with remote CQ data"
                                                                      : "RMA write and a completion message")
                                       : "tagged send (no RMA)");
  if (waitFd >= 0) waitDescriptor = std::make_unique<asio::posix::stream_descriptor>(io, waitFd);
  helper = std::thread([this] { helperLoop(); });
}

void OfiTransport::Impl::close() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  helperWake.notify_all();
  if (helper.joinable()) helper.join();
  if (waitDescriptor) {
    asio::error_code ignored;
    waitDescriptor->cancel(ignored);
    waitDescriptor->release();  // libfabric owns the descriptor
    waitDescriptor.reset();
  }
  timer.cancel();
  aliveToken.reset();
  for (auto& peer : peers) peer.exitWatch.reset();
  failAll(Status::make(ErrorCode::Aborted, "ofi: the transport was closed"));
  registry.reset();
  if (av != nullptr) fi_close(&av->fid);
  if (cq != nullptr) fi_close(&cq->fid);
  if (domain != nullptr) fi_close(&domain->fid);
  if (fabric != nullptr) fi_close(&fabric->fid);
  av = nullptr;
  cq = nullptr;
  domain = nullptr;
  fabric = nullptr;
}

// Reads the queue when the driver has not for a tick: the driver sleeps between operations
// (or the communicator has none), but a peer's write into us may still need our progress.
void OfiTransport::Impl::helperLoop() {
  std::unique_lock lock(mutex);
  std::uint64_t seen = driverPolls;
  int idleTicks = 0;
  while (!stopping) {
    helperWake.wait_for(lock, idleTicks < kHelperTicksBeforeIdle ? std::chrono::milliseconds(kHelperTick)
                                                                 : std::chrono::milliseconds(kHelperIdleTick));
    if (stopping) break;
    if (driverPolls != seen || shutDown) {
      seen = driverPolls;
      idleTicks = 0;
      continue;
    }
    const std::size_t before = due.size();
    const std::size_t read = readQueue();
    if (read > 0) quietNaps = 0;
    retryBlocked();
    settleDoomed(false);
    settleExited(read);
    probePeers();
    idleTicks = read > 0 || !live.empty() ? 0 : idleTicks + 1;
    if (due.size() > before) asio::post(io, [] {});  // wake a driver sleeping in the event loop
  }
}

OfiTransport::OfiTransport(asio::io_context& io, InfoPtr info, const OfiTransportParams& params)
    : impl_(std::make_unique<Impl>(io, std::move(info), params)) {
  try {
    impl_->open();
  } catch (...) {
    impl_->close();
    throw;
  }
}

OfiTransport::~OfiTransport() { impl_->close(); }

std::string OfiTransport::address() const {
  std::lock_guard lock(impl_->mutex);
  std::string name(64, '\0');
  std::size_t length = name.size();
  int ret = fi_getname(&impl_->ep->fid, name.data(), &length);
  if (ret == -FI_ETOOSMALL) {
    name.resize(length);
    ret = fi_getname(&impl_->ep->fid, name.data(), &length);
  }
  if (ret != 0) fail(ErrorCode::System, "ofi ({}): fi_getname: {}", impl_->providerName, fiText(ret));
  name.resize(length);
  return name;
}

void OfiTransport::connect(const std::map<int, std::string>& addresses) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  for (const auto& [rank, address] : addresses) {
    if (rank < 0 || rank >= impl.params.size || rank == impl.params.rank) continue;
    Impl::Peer& peer = impl.peers[static_cast<std::size_t>(rank)];
    const int inserted = fi_av_insert(impl.av, address.data(), 1, &peer.addr, 0, nullptr);
    if (inserted != 1) {
      fail(ErrorCode::System, "ofi ({}): adding rank {}'s address to the address vector: {}", impl.providerName, rank,
           inserted < 0 ? fiText(inserted) : std::string("not inserted"));
    }
    char text[128] = {};
    std::size_t length = sizeof text;
    fi_av_straddr(impl.av, address.data(), text, &length);
    peer.where = text;
    peer.reachable = true;
  }
}

void OfiTransport::watchPeerProcess(int peerRank, int pid) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  Impl::Peer* peer = impl.peerOf(peerRank);
  if (peer == nullptr || pid <= 0) return;
  peer->pid = pid;
  if (impl.watchdog) impl.watchdog->watchPeer(peerRank, pid);
  peer->exitWatch = shm::watchProcessExit(
      impl.io, pid, [&impl, peerRank, token = std::weak_ptr<int>(impl.aliveToken)] {
        if (token.expired()) return;
        std::lock_guard lock(impl.mutex);
        impl.peerExited(peerRank);
      });
}

void OfiTransport::send(int peerRank, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  Impl::Peer* peer = impl.accept(peerRank, done);
  if (peer == nullptr) return;
  auto* op = new SendOp;
  op->peer = peerRank;
  op->seq = peer->sendSeq++;
  op->tag = tag;
  op->data = static_cast<const std::byte*>(data);
  op->bytes = bytes;
  op->done = std::move(done);
  op->rma = impl.usesRma(bytes);
  impl.live.insert(op);
  try {
    if (!op->rma) {
      impl.sendEager(op, *peer);
    } else if (auto early = peer->earlyReady.find(op->seq); early != peer->earlyReady.end()) {
      const ControlMessage ready = early->second;
      peer->earlyReady.erase(early);
      impl.startWrites(op, ready);
    } else {
      peer->awaitingReady[op->seq] = op;
    }
  } catch (const Error& e) {
    impl.failAll(Status(e.code(), e.detail()));
  }
}

void OfiTransport::recv(int peerRank, std::uint64_t tag, void* data, std::size_t bytes, Completion done) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  Impl::Peer* peer = impl.accept(peerRank, done);
  if (peer == nullptr) return;
  auto* op = new RecvOp;
  op->peer = peerRank;
  op->seq = peer->recvSeq++;
  op->tag = tag;
  op->data = static_cast<std::byte*>(data);
  op->bytes = bytes;
  op->done = std::move(done);
  op->rma = impl.usesRma(bytes);
  impl.live.insert(op);
  try {
    if (op->rma) {
      impl.postRmaRecv(op, *peer);
    } else {
      impl.receiveEager(op, *peer);
    }
  } catch (const Error& e) {
    impl.failAll(Status(e.code(), e.detail()));
  }
}

std::size_t OfiTransport::poll() {
  Impl& impl = *impl_;
  std::deque<std::pair<Completion, Status>> due;
  {
    std::lock_guard lock(impl.mutex);
    ++impl.driverPolls;
    if (!impl.shutDown) {
      const std::size_t read = impl.readQueue();
      if (read > 0) impl.quietNaps = 0;
      impl.retryBlocked();
      impl.settleDoomed(false);
      impl.settleExited(read);
      impl.probePeers();
    }
    due.swap(impl.due);
  }
  for (auto& [done, status] : due) done(status);
  return due.size();
}

bool OfiTransport::prepareToSleep() {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  ++impl.driverPolls;
  if (!impl.due.empty()) return false;
  if (impl.shutDown) return true;
  if (impl.readQueue() > 0 || !impl.due.empty()) {
    impl.quietNaps = 0;
    return false;
  }
  const bool outstanding = !impl.live.empty() || impl.anyWaiting() || impl.doomed.has_value();
  bool waitable = false;
  if (impl.waitDescriptor) {
    fid* fids[1] = {&impl.cq->fid};
    waitable = fi_trywait(impl.fabric, fids, 1) == FI_SUCCESS;
    if (waitable && !impl.sleep->fdArmed) {
      impl.sleep->fdArmed = true;
      impl.waitDescriptor->async_wait(asio::posix::stream_descriptor::wait_read,
                                      [state = impl.sleep](const asio::error_code&) { state->fdArmed = false; });
    }
  }
  // Providers with manual progress (and any without a usable descriptor) need the queue read
  // again soon while anything is outstanding: nap, do not block for the driver's full bound.
  if (outstanding && !impl.sleep->timerArmed) {
    impl.sleep->timerArmed = true;
    impl.timer.expires_after(impl.nextNap());
    impl.timer.async_wait([state = impl.sleep](const asio::error_code&) { state->timerArmed = false; });
  }
  return true;
}

void OfiTransport::awake() {}

void OfiTransport::shutdown(const Status& why) {
  std::unique_lock lock(impl_->mutex);
  impl_->drainDetached(lock);
  impl_->failAll(why);
}

std::string OfiTransport::describePeer(int peerRank) const {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  if (impl.peerOf(peerRank) == nullptr) return fmt::format("rank {}", peerRank);
  return impl.describe(peerRank);
}

const std::string& OfiTransport::providerDescription() const { return impl_->description; }
const std::string& OfiTransport::providerName() const { return impl_->providerName; }

std::uint64_t OfiTransport::retriedPosts() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->retried;
}

std::uint64_t OfiTransport::strangerMessages() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->strangers.count();
}

std::size_t OfiTransport::registrations() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->registry ? impl_->registry->size() : 0;
}

}  // namespace banyan::transport::ofi
