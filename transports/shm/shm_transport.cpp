#include "transports/shm/shm_transport.hpp"

#include "transports/shm/shm_impl.hpp"

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

ShmTransport::Impl::Impl(const asio::any_io_executor& io, ShmTransportParams p) : io(io), params(std::move(p)) {
  if (!params.liveness) params.liveness = std::make_shared<PeerLiveness>(params.size);
}

// The last handle is gone: the peers learn it from the flag (a reader of a buffer we lent by
// cross-memory attach, too), before the segments go.
ShmTransport::Impl::~Impl() { announceClosed(); }

std::string ShmTransport::Impl::describe(const Peer& peer, const ShmChannel& channel) const {
  return fmt::format("rank {} (pid {}, shared memory)", channelRank(peer, channel), peer.pid);
}

std::size_t ShmTransport::Impl::runDue() {
  std::size_t ran = 0;
  while (!due.empty()) {
    Completed next = std::move(due.front());
    due.pop_front();
    next.done(next.status);
    ++ran;
  }
  return ran;
}

bool ShmTransport::Impl::hasWork() {
  if (!due.empty()) return true;
  for (auto& peer : peers) {
    if (peer.rank < 0) continue;
    if ((peer.waiting != 0 || peer.arrival.active()) &&
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
// mapped), so only operations that can no longer complete fail, on every channel.
void ShmTransport::Impl::failGone(Peer& peer) {
  if (shutDown) return;
  // Sends it completed before leaving (slots it handed back) and messages it left in the
  // ring count: only what can no longer complete fails.
  if (!peer.sends.empty()) pumpSends(peer);
  if (peer.waiting != 0 || peer.arrival.active()) pumpRecvs(peer);
  if (shutDown) return;
  // Only this peer's operations fail, as with TCP: the collectives' executor shuts the whole
  // transport down on any failure, while point-to-point goes on with the other peers.
  const auto why = [&](const ShmChannel& channel) {
    return Status::make(ErrorCode::Remote, "{} {}", describe(peer, channel), peer.gone)
        .withLostPeer(channelRank(peer, channel), peer.exited);
  };
  for (auto& op : peer.sends) {
    if (op.done) complete(op.channel, std::move(op.done), why(*op.channel));
  }
  peer.sends.clear();
  if (peer.waiting == 0) return;
  for (auto& [id, channel] : channels) {
    if (channel->peers.empty()) continue;
    auto& recvs = channel->peers[static_cast<std::size_t>(peer.local)].recvs;
    for (auto& op : recvs) complete(channel.get(), std::move(op.done), why(*channel));
    recvs.clear();
  }
  peer.waiting = 0;
  if (peer.arrival.into == Arrival::Into::Recv) peer.arrival.discard();
}

// Runs when the doorbell rings: a peer that shut down rings everyone on its way out.
void ShmTransport::Impl::lookForClosedPeers() {
  for (auto& peer : peers) {
    if (peer.rank >= 0 && peer.gone.empty() && peer.view.header()->closed.load(std::memory_order_acquire) != 0) {
      peer.gone = "closed its connection (shut its communicator down)";
      checkGone(peer);
    }
  }
}

void ShmTransport::Impl::watchExit(Peer& peer) {
  params.liveness->watch(peer.rank, peer.pid);
  peer.exitWatch = params.liveness->onExit(io, peer.rank, [this, &peer] {
    if (peer.gone.empty()) peer.gone = "closed its connection: the process exited";
    peer.exited = true;
    checkGone(peer);
  });
}

// Ends every channel: the transport can no longer be trusted (or a buffer it lent by
// cross-memory attach cannot be taken back any other way). `lost`: the peer `why` names as lost,
// which each channel's operations name in that channel's ranks.
void ShmTransport::Impl::failAll(const Status& why, const Peer* lost) {
  if (shutDown) return;
  shutDown = true;
  failure = why;
  announceClosed();
  const auto whyOn = [&](const ShmChannel* channel) {
    if (lost == nullptr || channel == nullptr || why.lostPeer() < 0) return why;
    return why.withLostPeer(channelRank(*lost, *channel), why.lostPeerExited());
  };
  for (auto& peer : peers) {
    for (auto& op : peer.sends) complete(op.channel, std::move(op.done), whyOn(op.channel));
    peer.sends.clear();
    peer.waiting = 0;
    peer.arrival = Arrival{};
  }
  for (auto& [id, channel] : channels) {
    for (auto& channelPeer : channel->peers) {
      for (auto& op : channelPeer.recvs) complete(channel.get(), std::move(op.done), whyOn(channel.get()));
      channelPeer.recvs.clear();
      channelPeer.kept.clear();
    }
  }
}

// Tells the peers this transport is done: one waiting for us fails now, not at its timeout,
// and one reading a message of ours by cross-memory attach knows the buffer is no longer ours
// to lend (set before any send's completion hands its buffer back).
void ShmTransport::Impl::announceClosed() {
  if (myView.base == nullptr || myView.header()->closed.exchange(1, std::memory_order_seq_cst) != 0) return;
  for (auto& peer : peers) {
    if (peer.rank >= 0) doorbell->ring(peer.doorbell);
  }
}

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
    : impl_(std::make_shared<Impl>(io, params)) {
  impl_->setUp(*store);
  channel_ = &impl_->openChannel(0, {});
}

ShmTransport::ShmTransport(std::shared_ptr<Impl> impl, ShmChannel& channel, std::vector<int> ranks)
    : impl_(std::move(impl)), channel_(&channel), ranks_(std::move(ranks)) {}

// The channel ends here (its completions never run); the Impl, when this was its last handle,
// tells the peers that the whole transport has closed.
ShmTransport::~ShmTransport() {
  if (impl_.use_count() > 1) impl_->destroyChannel(*channel_);
}

int ShmTransport::transportRank(int channelRank) const {
  if (ranks_.empty()) return channelRank;
  if (channelRank < 0 || channelRank >= static_cast<int>(ranks_.size())) return -1;
  return ranks_[static_cast<std::size_t>(channelRank)];
}

// The peer a send or receive goes to, or nullptr after completing `done` with the reason there
// is none (the transport or the channel is shut down, or the rank is not on this host).
ShmTransport::Impl::Peer* ShmTransport::Impl::accept(ShmChannel& channel, int rank, int channelRank, Completion& done) {
  if (shutDown) {
    complete(&channel, std::move(done), failure);
    return nullptr;
  }
  if (!channel.closed.isOk()) {
    complete(&channel, std::move(done), channel.closed);
    return nullptr;
  }
  Peer* peer = peerOf(rank);
  if (peer == nullptr) {
    complete(&channel, std::move(done),
             Status::make(ErrorCode::Internal, "shm: rank {} is not on the host of rank {}", channelRank,
                          channel.rankOf[static_cast<std::size_t>(myLocal)]));
  }
  return peer;
}

void ShmTransport::send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) {
  impl_->send(*channel_, transportRank(peer), peer, tag, data, bytes, done);
}

void ShmTransport::recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) {
  impl_->recv(*channel_, transportRank(peer), peer, tag, data, bytes, done);
}

std::unique_ptr<Transport> ShmTransport::openChannel(const ChannelSpec& spec, const asio::any_io_executor&) {
  if (spec.id == 0) fail(ErrorCode::Internal, "shm: channel 0 is the transport's own; a channel needs another id");
  const int size = ranks_.empty() ? impl_->params.size : static_cast<int>(ranks_.size());
  std::vector<int> ranks(spec.ranks.size(), -1);
  for (std::size_t r = 0; r < spec.ranks.size(); ++r) {
    const int mine = spec.ranks[r];
    if (mine < 0 || mine >= size) {
      fail(ErrorCode::Internal, "shm: channel rank {} maps to rank {}, outside 0..{}", r, mine, size - 1);
    }
    ranks[r] = transportRank(mine);
  }
  ShmChannel& channel = impl_->openChannel(spec.id, ranks);
  return std::unique_ptr<Transport>(new ShmTransport(impl_, channel, std::move(ranks)));
}

std::size_t ShmTransport::poll() {
  Impl& impl = *impl_;
  bool moved = false;
  for (auto& peer : impl.peers) {
    if (peer.rank >= 0 && (!peer.sends.empty() || peer.waiting != 0 || peer.arrival.active())) {
      moved |= impl.progress(peer);
    }
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

void ShmTransport::shutdown(const Status& why) { impl_->shutdownChannel(*channel_, why); }

std::string ShmTransport::describePeer(int peerRank) const {
  const Impl::Peer* peer = impl_->peerOf(transportRank(peerRank));
  if (peer == nullptr) return fmt::format("rank {}", peerRank);
  return impl_->describe(*peer, *channel_);
}

int ShmTransport::crossMemoryPeers() const {
  int count = 0;
  for (const auto& peer : impl_->peers) count += peer.rank >= 0 && peer.crossMemoryToPeer ? 1 : 0;
  return count;
}

}  // namespace banyan::transport::shm
