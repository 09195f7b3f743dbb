#include "transports/shm/shm_transport.hpp"

#include "transports/shm/cma.hpp"
#include "transports/shm/doorbell.hpp"
#include "transports/shm/segment.hpp"
#include "transports/shm/shm_connect.hpp"

#include <fmt/format.h>
#include <asio.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>

namespace banyan::transport::shm {

namespace {

struct SendOp {
  const std::byte* data;
  std::size_t bytes;
  std::uint64_t tag;
  Completion done;
  bool crossMemory = false;
  std::size_t written = 0;     // Inline: bytes already in slots
  bool posted = false;         // every slot of the message is in the ring
  std::uint64_t lastSlot = 0;  // CrossMemory: the slot whose release completes the send
};

struct RecvOp {
  std::byte* data;
  std::size_t bytes;
  std::uint64_t tag;
  Completion done;
  std::size_t received = 0;
};

}  // namespace

struct ShmTransport::Impl {
  struct Peer {
    int rank = -1;
    int local = -1;  // index in params.localRanks
    Segment segment;
    SegmentView view;            // the peer's segment
    RingControl* out = nullptr;  // in my segment: my messages to the peer
    RingControl* in = nullptr;   // in the peer's segment: its messages to me
    std::string doorbell;
    pid_t pid = 0;
    bool crossMemoryToPeer = false;                             // the peer can read my memory
    std::unique_ptr<asio::posix::stream_descriptor> exitWatch;  // pidfd: readable once it exits
    std::string gone;     // why the peer can no longer take part ("" while it can)
    bool exited = false;  // its process has ended (not only its connection)
    std::deque<SendOp> sends;
    std::deque<RecvOp> recvs;
    // How much of this pair's rings have pages (Residency::OnFirstUse): see populateRing.
    bool outSmall = false;   // our ring to the peer: its control, slot headers and first pages
    bool outFull = false;    // ... and every slot whole
    bool inControl = false;  // the peer's ring to us: its control (head and tail)
  };

  Impl(const asio::any_io_executor& io, ShmTransportParams p) : io(io), params(std::move(p)) {
    if (!params.liveness) params.liveness = std::make_shared<PeerLiveness>(params.size);
  }

  asio::any_io_executor io;
  ShmTransportParams params;
  int myLocal = -1;
  Segment mine;
  SegmentView myView;
  std::unique_ptr<Doorbell> doorbell;
  std::vector<Peer> peers;                        // by local index (mine unused)
  std::vector<int> localOfRank;                   // global rank -> local index, -1 if not on this host
  std::deque<std::pair<Completion, Status>> due;  // completions poll() runs
  bool shutDown = false;
  Status failure;

  Peer* peerOf(int rank) {
    if (rank < 0 || rank >= static_cast<int>(localOfRank.size()) || rank == params.rank) return nullptr;
    const int local = localOfRank[static_cast<std::size_t>(rank)];
    return local < 0 ? nullptr : &peers[static_cast<std::size_t>(local)];
  }

  void complete(Completion&& done, Status status) { due.emplace_back(std::move(done), std::move(status)); }

  void wake(Peer& peer) {
    if (takeSleeper(peer.view.header()->sleeping)) doorbell->ring(peer.doorbell);
  }

  // Moves as much of the peer's send queue into its ring as fits; true if anything moved.
  bool pumpSends(Peer& peer) {
    bool moved = false;
    const auto& geometry = params.geometry;
    while (!peer.sends.empty()) {
      SendOp& op = peer.sends.front();
      while (!op.posted) {
        const std::uint64_t tail = peer.out->tail.load(std::memory_order_relaxed);
        if (tail - peer.out->head.load(std::memory_order_acquire) >= geometry.slots) break;
        SlotHeader* slot = myView.slot(peer.local, tail);
        slot->tag = op.tag;
        slot->messageBytes = op.bytes;
        if (op.crossMemory) {
          slot->kind = SlotKind::CrossMemory;
          slot->bytes = 0;
          slot->address = reinterpret_cast<std::uint64_t>(op.data);
          op.posted = true;
          op.lastSlot = tail;
        } else {
          const std::size_t part = std::min<std::size_t>(op.bytes - op.written, geometry.slotPayload);
          slot->kind = SlotKind::Inline;
          slot->bytes = static_cast<std::uint32_t>(part);
          if (part != 0) std::memcpy(SegmentView::payload(slot), op.data + op.written, part);
          op.written += part;
          op.posted = op.written == op.bytes;
        }
        peer.out->tail.store(tail + 1, std::memory_order_release);
        moved = true;
      }
      if (!op.posted) break;
      if (op.crossMemory && peer.out->head.load(std::memory_order_acquire) <= op.lastSlot) break;
      complete(std::move(op.done), Status::ok());
      peer.sends.pop_front();
      moved = true;
    }
    return moved;
  }

  // Takes messages from the peer's ring into posted receives; true if anything moved.
  bool pumpRecvs(Peer& peer) {
    bool moved = false;
    while (!peer.recvs.empty()) {
      const std::uint64_t head = peer.in->head.load(std::memory_order_relaxed);
      if (peer.in->tail.load(std::memory_order_acquire) == head) break;
      RecvOp& op = peer.recvs.front();
      SlotHeader* slot = peer.view.slot(myLocal, head);
      if (slot->tag != op.tag || slot->messageBytes != op.bytes) {
        failAll(Status::make(ErrorCode::Remote,
                             "shm: rank {} sent a message of {} bytes for operation {}, but rank {} expected {} bytes "
                             "for operation {} (the ranks disagree on the sequence of collectives)",
                             peer.rank, slot->messageBytes, slot->tag, params.rank, op.bytes, op.tag)
                    .withMismatch(peer.rank, slot->tag));
        return true;
      }
      if (slot->kind == SlotKind::CrossMemory) {
        Status status = crossMemoryRead(peer.pid, op.data, slot->address, op.bytes);
        // A sender that shut down (its operation failed) has handed its buffer back to its
        // caller: whatever we read may be stale, so the flag is checked after the copy.
        if (peer.view.header()->closed.load(std::memory_order_acquire) != 0) {
          failAll(Status::make(ErrorCode::Remote, "{} closed its connection while its {}-byte message was being read",
                               describe(peer), op.bytes)
                      .withLostPeer(peer.rank));
          return true;
        }
        if (!status.isOk()) {
          // A sender killed mid-message takes its memory with it: that is the peer lost, not a
          // local system error.
          if (status.code() == ErrorCode::Remote) {
            failAll(Status::make(ErrorCode::Remote,
                                 "{} closed its connection: the process exited while its {}-byte "
                                 "message was being read",
                                 describe(peer), op.bytes)
                        .withLostPeer(peer.rank, true));
          } else {
            failAll(Status::make(ErrorCode::System, "shm: reading {} bytes from rank {}: {}", op.bytes, peer.rank,
                                 status.message()));
          }
          return true;
        }
        op.received = op.bytes;
      } else {
        const std::size_t part = slot->bytes;
        if (part > op.bytes - op.received) {
          failAll(Status::make(ErrorCode::Remote, "shm: rank {} overran a {}-byte message to rank {}", peer.rank,
                               op.bytes, params.rank));
          return true;
        }
        if (part != 0) std::memcpy(op.data + op.received, SegmentView::payload(slot), part);
        op.received += part;
      }
      peer.in->head.store(head + 1, std::memory_order_release);
      moved = true;
      if (op.received == op.bytes) {
        complete(std::move(op.done), Status::ok());
        peer.recvs.pop_front();
      }
    }
    return moved;
  }

  bool progress(Peer& peer) {
    const bool sent = !peer.sends.empty() && pumpSends(peer);
    const bool received = !peer.recvs.empty() && pumpRecvs(peer);
    // The peer may sleep waiting for what we just did: data in its ring, or slots handed back.
    if (sent || received) wake(peer);
    return sent || received;
  }

  std::size_t runDue() {
    std::size_t ran = 0;
    while (!due.empty()) {
      auto [done, status] = std::move(due.front());
      due.pop_front();
      done(status);
      ++ran;
    }
    return ran;
  }

  bool hasWork() {
    if (!due.empty()) return true;
    for (auto& peer : peers) {
      if (peer.rank < 0) continue;
      if (!peer.recvs.empty() &&
          peer.in->tail.load(std::memory_order_acquire) != peer.in->head.load(std::memory_order_relaxed)) {
        return true;
      }
      if (!peer.sends.empty()) {
        const SendOp& op = peer.sends.front();
        const std::uint64_t head = peer.out->head.load(std::memory_order_acquire);
        if (!op.posted && peer.out->tail.load(std::memory_order_relaxed) - head < params.geometry.slots) return true;
        if (op.posted && head > op.lastSlot) return true;
      }
    }
    return false;
  }

  // A peer that left: what it already put in its ring is still ours to read (its segment stays
  // mapped), so only operations that can no longer complete fail.
  void checkGone(Peer& peer) {
    if (peer.gone.empty() || shutDown) return;
    // Sends it completed before leaving (slots it handed back) and messages it left in the
    // ring count: only what can no longer complete fails.
    if (!peer.sends.empty()) pumpSends(peer);
    if (!peer.recvs.empty()) pumpRecvs(peer);
    // Only this peer's operations fail, as with TCP: the collectives' executor shuts the whole
    // transport down on any failure, while point-to-point goes on with the other peers.
    if (!peer.recvs.empty() || !peer.sends.empty()) {
      const Status why =
          Status::make(ErrorCode::Remote, "{} {}", describe(peer), peer.gone).withLostPeer(peer.rank, peer.exited);
      for (auto& op : peer.sends) complete(std::move(op.done), why);
      for (auto& op : peer.recvs) complete(std::move(op.done), why);
      peer.sends.clear();
      peer.recvs.clear();
    }
  }

  std::string describe(const Peer& peer) const {
    return fmt::format("rank {} (pid {}, shared memory)", peer.rank, peer.pid);
  }

  // Runs when the doorbell rings: a peer that shut down rings everyone on its way out.
  void lookForClosedPeers() {
    for (auto& peer : peers) {
      if (peer.rank >= 0 && peer.gone.empty() && peer.view.header()->closed.load(std::memory_order_acquire) != 0) {
        peer.gone = "closed its connection (shut its communicator down)";
        checkGone(peer);
      }
    }
  }

  void watchExit(Peer& peer) {
    params.liveness->watch(peer.rank, peer.pid);
    peer.exitWatch = params.liveness->onExit(io, peer.rank, [this, &peer] {
      if (peer.gone.empty()) peer.gone = "closed its connection: the process exited";
      peer.exited = true;
      checkGone(peer);
    });
  }

  void failAll(const Status& why) {
    if (shutDown) return;
    shutDown = true;
    failure = why;
    announceClosed();
    for (auto& peer : peers) {
      for (auto& op : peer.sends) complete(std::move(op.done), why);
      for (auto& op : peer.recvs) complete(std::move(op.done), why);
      peer.sends.clear();
      peer.recvs.clear();
    }
  }

  // Tells the peers this transport is done: one waiting for us fails now, not at its timeout,
  // and one reading a message of ours by cross-memory attach knows the buffer is no longer ours
  // to lend (set before any send's completion hands its buffer back).
  void announceClosed() {
    if (myView.base == nullptr || myView.header()->closed.exchange(1, std::memory_order_seq_cst) != 0) return;
    for (auto& peer : peers) {
      if (peer.rank >= 0) doorbell->ring(peer.doorbell);
    }
  }

  // Gives a ring its pages before they are first used, a batch at a time: a fault per page in
  // the middle of a collective would cost more, and a full /dev/shm fails the call with an
  // error instead of a SIGBUS. The sender allocates: on its first message to the peer the
  // ring's control, every slot header and the first page of every payload (small messages
  // never need more: 17 pages); on its first message that fills more of a slot, the whole ring
  // (513 KiB). The receiver only reads pages the sender allocated, except the control line,
  // which it may read first. Returns false after completing `done` with the error.
  bool populateRing(Peer& peer, bool outgoing, std::size_t inlineBytes, Completion& done) {
    constexpr std::size_t kPage = 4096;
    const bool control = !outgoing && !peer.inControl;
    const bool small = outgoing && !peer.outSmall;
    const bool whole = outgoing && !peer.outFull && inlineBytes > kPage - sizeof(SlotHeader);
    if (!control && !small && !whole) return true;  // the usual case: one look at three flags
    const auto& geometry = params.geometry;
    const auto bytesOf = [](void* at) { return reinterpret_cast<std::byte*>(at); };
    const std::string what = fmt::format("the ring from rank {} to rank {}", outgoing ? params.rank : peer.rank,
                                         outgoing ? peer.rank : params.rank);
    try {
      if (control) Segment::populate(bytesOf(peer.in), sizeof(RingControl), what);
      if (small) {
        Segment::populate(bytesOf(peer.out), sizeof(RingControl), what);
        for (std::uint64_t slot = 0; slot < geometry.slots; ++slot) {
          Segment::populate(bytesOf(myView.slot(peer.local, slot)), std::min(geometry.slotStride(), kPage), what);
        }
      }
      if (whole) Segment::populate(bytesOf(peer.out), geometry.ringBytes(), what);
    } catch (const Error& e) {
      complete(std::move(done), Status::make(e.code(), "shm: {}", e.detail()));
      return false;
    }
    peer.inControl = peer.inControl || control;
    peer.outSmall = peer.outSmall || small;
    peer.outFull = peer.outFull || whole;
    return true;
  }

  Peer* accept(int peerRank, Completion& done);
  void setUp(Store& store);
};

void ShmTransport::Impl::setUp(Store& store) {
  const auto& locals = params.localRanks;
  const int localCount = static_cast<int>(locals.size());
  if (localCount > kMaxLocalRanks) {
    fail(ErrorCode::NotSupported, "shm: {} ranks on one host; the shared-memory transport supports {}", localCount,
         kMaxLocalRanks);
  }
  localOfRank.assign(static_cast<std::size_t>(params.size), -1);
  for (int i = 0; i < localCount; ++i) localOfRank[static_cast<std::size_t>(locals[static_cast<std::size_t>(i)])] = i;
  myLocal = localOfRank[static_cast<std::size_t>(params.rank)];
  if (myLocal < 0) fail(ErrorCode::Internal, "shm: rank {} is not among its host's ranks", params.rank);

  // Rings get their pages when a pair first talks (populateRing): a rank holds a ring to every
  // local peer but uses few (a ring's neighbours, a tree's parent and children).
  mine = Segment::create(segmentName(params.name, params.rank), params.geometry.segmentBytes(localCount),
                         Residency::OnFirstUse);
  myView = SegmentView{mine.data(), params.geometry};
  SegmentHeader* header = myView.header();
  header->pid = ::getpid();
  header->probe = params.probeValue ^ static_cast<std::uint64_t>(params.rank);
  header->probeAddress = reinterpret_cast<std::uint64_t>(&header->probe);
  doorbell = std::make_unique<Doorbell>(io, segmentName(params.name, params.rank), [this] { lookForClosedPeers(); });
  // A process-wide setting: only where the copies are wanted (docs/architecture.md,
  // "Process-wide state").
  if (params.crossMemoryBytes != 0) allowCrossMemoryReaders();

  peers.resize(static_cast<std::size_t>(localCount));
  const std::size_t bytes = params.geometry.segmentBytes(localCount);
  const auto mapped = [&](std::size_t i, const Segment& segment) {
    Peer& peer = peers[i];
    peer.rank = locals[i];
    peer.local = static_cast<int>(i);
    peer.view = SegmentView{segment.data(), params.geometry};
    peer.out = myView.ring(peer.local);
    peer.in = peer.view.ring(myLocal);
    peer.doorbell = segmentName(params.name, peer.rank);
    const SegmentHeader* theirs = peer.view.header();
    peer.pid = static_cast<pid_t>(theirs->pid);
    // Written before the second barrier: the peer reads it once the exchange is over.
    header->canReadFrom[i] =
        params.crossMemoryBytes != 0 &&
        crossMemoryProbe(peer.pid, theirs->probeAddress, params.probeValue ^ static_cast<std::uint64_t>(peer.rank));
  };
  auto segments = exchangeSegments(store, mine,
                                   SegmentExchange{params.storePrefix + "shm/", locals, params.rank,
                                                   [&](int rank) { return segmentName(params.name, rank); }, bytes,
                                                   params.timeout, Residency::OnFirstUse},
                                   mapped);
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (peers[i].rank >= 0) peers[i].segment = std::move(segments[i]);
  }
  for (auto& peer : peers) {
    if (peer.rank < 0) continue;
    peer.crossMemoryToPeer = peer.view.header()->canReadFrom[myLocal] != 0;
    watchExit(peer);
  }
}

ShmTransport::ShmTransport(const asio::any_io_executor& io, std::shared_ptr<Store> store,
                           const ShmTransportParams& params)
    : impl_(std::make_unique<Impl>(io, params)) {
  impl_->setUp(*store);
}

ShmTransport::~ShmTransport() { impl_->announceClosed(); }

// The peer a send or receive goes to, or nullptr after completing `done` with the reason there
// is none (the transport is shut down, or the rank is not on this host).
ShmTransport::Impl::Peer* ShmTransport::Impl::accept(int peerRank, Completion& done) {
  if (shutDown) {
    complete(std::move(done), failure);
    return nullptr;
  }
  Peer* peer = peerOf(peerRank);
  if (peer == nullptr) {
    complete(std::move(done),
             Status::make(ErrorCode::Internal, "shm: rank {} is not on the host of rank {}", peerRank, params.rank));
  }
  return peer;
}

void ShmTransport::send(int peerRank, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) {
  Impl& impl = *impl_;
  Impl::Peer* peer = impl.accept(peerRank, done);
  if (peer == nullptr) return;
  const bool crossMemory = peer->crossMemoryToPeer && bytes >= impl.params.crossMemoryBytes && bytes != 0;
  if (!impl.populateRing(*peer, true, crossMemory ? 0 : bytes, done)) return;
  SendOp op{static_cast<const std::byte*>(data), bytes, tag, std::move(done)};
  op.crossMemory = crossMemory;
  peer->sends.push_back(std::move(op));
  if (peer->sends.size() == 1) impl.progress(*peer);
  impl.checkGone(*peer);
}

void ShmTransport::recv(int peerRank, std::uint64_t tag, void* data, std::size_t bytes, Completion done) {
  Impl& impl = *impl_;
  Impl::Peer* peer = impl.accept(peerRank, done);
  if (peer == nullptr || !impl.populateRing(*peer, false, 0, done)) return;
  peer->recvs.push_back(RecvOp{static_cast<std::byte*>(data), bytes, tag, std::move(done)});
  if (peer->recvs.size() == 1) impl.progress(*peer);
  impl.checkGone(*peer);
}

std::size_t ShmTransport::poll() {
  Impl& impl = *impl_;
  bool moved = false;
  for (auto& peer : impl.peers) {
    if (peer.rank >= 0 && (!peer.sends.empty() || !peer.recvs.empty())) moved |= impl.progress(peer);
  }
  return impl.runDue() + (moved ? 1 : 0);
}

bool ShmTransport::prepareToSleep() {
  Impl& impl = *impl_;
  announceSleep(impl.myView.header()->sleeping);
  if (impl.hasWork()) {
    impl.myView.header()->sleeping.store(0, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void ShmTransport::awake() { impl_->myView.header()->sleeping.store(0, std::memory_order_relaxed); }

void ShmTransport::shutdown(const Status& why) { impl_->failAll(why); }

std::string ShmTransport::describePeer(int peerRank) const {
  const Impl::Peer* peer = impl_->peerOf(peerRank);
  if (peer == nullptr) return fmt::format("rank {}", peerRank);
  return impl_->describe(*peer);
}

int ShmTransport::crossMemoryPeers() const {
  int count = 0;
  for (const auto& peer : impl_->peers) count += peer.rank >= 0 && peer.crossMemoryToPeer ? 1 : 0;
  return count;
}

}  // namespace banyan::transport::shm
