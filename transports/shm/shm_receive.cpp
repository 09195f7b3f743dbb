// The receiving side of the shared-memory transport: a peer's ring is drained message by
// message while any channel has a receive posted from that peer (shm_impl.hpp). A message goes
// into its channel's head receive, or aside (kept) until its receive comes, or nowhere if its
// channel has ended here; so no channel's message waits behind another's.

#include "transports/shm/shm_impl.hpp"

#include "transports/shm/cma.hpp"

#include <fmt/format.h>

#include <cstring>

namespace banyan::transport::shm {

// The usual message, taken in one step: one slot (inline or by cross-memory attach), of the
// previous message's channel, whose head receive expects it. False if it is not that (the
// general path then looks at it), or if the transport failed reading it.
bool ShmTransport::Impl::takeWhole(Peer& peer, const SlotHeader& slot) {
  ShmChannel* channel = peer.lastChannel;
  const bool crossMemory = slot.kind == SlotKind::CrossMemory;
  if (channel == nullptr || channel->id != slot.channel ||
      !(crossMemory || (slot.kind == SlotKind::Inline && slot.bytes == slot.messageBytes))) {
    return false;
  }
  // A receive is queued only on an open channel whose peer has not failed, and only while no
  // kept message is waiting: the general path's checks hold.
  auto& recvs = channel->peers[static_cast<std::size_t>(peer.local)].recvs;
  if (recvs.empty() || recvs.front().tag != slot.tag || recvs.front().bytes != slot.messageBytes) return false;
  if (crossMemory) {
    if (!readCrossMemory(peer, *channel, recvs.front().data, slot.messageBytes, slot.address)) return false;
  } else if (slot.bytes != 0) {
    std::memcpy(recvs.front().data, SegmentView::payload(const_cast<SlotHeader*>(&slot)), slot.bytes);
  }
  complete(channel, std::move(recvs.front().done), Status::ok());
  recvs.pop_front();
  --peer.waiting;
  return true;
}

bool ShmTransport::Impl::pumpRecvs(Peer& peer) {
  bool moved = false;
  Arrival& arrival = peer.arrival;
  for (;;) {
    if (!arrival.active() && peer.waiting == 0) break;
    const std::uint64_t head = peer.in->head.load(std::memory_order_relaxed);
    if (peer.in->tail.load(std::memory_order_acquire) == head) break;
    const SlotHeader& slot = *peer.view.slot(myLocal, head);
    if (!arrival.active() && takeWhole(peer, slot)) {
      peer.in->head.store(head + 1, std::memory_order_release);
      moved = true;
      continue;
    }
    if (shutDown) return true;  // takeWhole's read failed the transport
    if (slot.kind == SlotKind::ChannelClosed) {
      if (arrival.active() && arrival.channel->id != slot.channel) {
        failAll(Status::make(ErrorCode::Remote,
                             "shm: rank {} closed channel {} in the middle of a message of channel {}", peer.rank,
                             slot.channel, arrival.channel->id));
        return true;
      }
      // In the middle of a message: the sender ended its channel there, and lends no more of it.
      arrival = Arrival{};
      peerClosedChannel(peer, channelOf(peer, slot.channel));
    } else {
      if (!arrival.active() && !startMessage(peer, slot)) return true;
      if (!readSlot(peer, slot)) return true;
    }
    peer.in->head.store(head + 1, std::memory_order_release);
    moved = true;
    if (arrival.active() && arrival.received == arrival.bytes) finishMessage(peer);
  }
  return moved;
}

// The first slot of a message: where it goes. False if the transport failed.
bool ShmTransport::Impl::startMessage(Peer& peer, const SlotHeader& slot) {
  ShmChannel& channel = channelOf(peer, slot.channel);
  Arrival& arrival = peer.arrival;
  arrival.channel = &channel;
  arrival.bytes = slot.messageBytes;
  arrival.received = 0;
  if (!channel.closed.isOk()) {
    arrival.discard();
    return true;
  }
  ChannelPeer& from = channel.peers[static_cast<std::size_t>(peer.local)];
  if (!from.failure.isOk()) {
    arrival.discard();
    return true;
  }
  if (from.recvs.empty()) {
    arrival.into = Arrival::Into::Kept;
    arrival.kept.tag = slot.tag;
    arrival.kept.bytes = slot.messageBytes;
    arrival.kept.data.reset(new std::byte[slot.messageBytes == 0 ? 1 : slot.messageBytes]);
    arrival.data = arrival.kept.data.get();
    return true;
  }
  const RecvOp& op = from.recvs.front();
  if (slot.tag != op.tag || slot.messageBytes != op.bytes) {
    breakChannelPeer(channel, peer, mismatchStatus(peer, channel, slot.tag, slot.messageBytes, op.tag, op.bytes));
    arrival.discard();
    return true;
  }
  arrival.into = Arrival::Into::Recv;
  arrival.data = op.data;
  return true;
}

// Copies one slot's part of the message. False if the transport failed.
bool ShmTransport::Impl::readSlot(Peer& peer, const SlotHeader& slot) {
  Arrival& arrival = peer.arrival;
  if (slot.channel != arrival.channel->id || (slot.kind == SlotKind::CrossMemory && arrival.received != 0)) {
    failAll(Status::make(ErrorCode::Remote, "shm: rank {} interleaved a message of channel {} with one of channel {}",
                         peer.rank, slot.channel, arrival.channel->id));
    return false;
  }
  if (slot.kind == SlotKind::CrossMemory) {
    // Nothing is read for a message that goes nowhere: the slot is handed back all the same.
    if (arrival.data != nullptr &&
        !readCrossMemory(peer, *arrival.channel, arrival.data, arrival.bytes, slot.address)) {
      return false;
    }
    arrival.received = arrival.bytes;
    return true;
  }
  const std::size_t part = slot.bytes;
  if (part > arrival.bytes - arrival.received) {
    failAll(Status::make(ErrorCode::Remote, "shm: rank {} overran a {}-byte message to rank {}", peer.rank,
                         arrival.bytes, params.rank));
    return false;
  }
  if (part != 0 && arrival.data != nullptr) {
    std::memcpy(arrival.data + arrival.received, SegmentView::payload(const_cast<SlotHeader*>(&slot)), part);
  }
  arrival.received += part;
  return true;
}

// Copies a message lent by cross-memory attach. False if the transport failed.
bool ShmTransport::Impl::readCrossMemory(Peer& peer, const ShmChannel& channel, std::byte* into, std::size_t bytes,
                                         std::uint64_t address) {
  Status status = crossMemoryRead(peer.pid, into, address, bytes);
  // A sender that shut down (its operation failed) has handed its buffer back to its
  // caller: whatever we read may be stale, so the flag is checked after the copy.
  if (peer.view.header()->closed.load(std::memory_order_acquire) != 0) {
    failAll(Status::make(ErrorCode::Remote, "{} closed its connection while its {}-byte message was being read",
                         describe(peer, channel), bytes)
                .withLostPeer(channelRank(peer, channel)),
            &peer);
    return false;
  }
  if (status.isOk()) return true;
  // A sender killed mid-message takes its memory with it: that is the peer lost, not a local
  // system error.
  if (status.code() == ErrorCode::Remote) {
    failAll(Status::make(ErrorCode::Remote,
                         "{} closed its connection: the process exited while its {}-byte message was being read",
                         describe(peer, channel), bytes)
                .withLostPeer(channelRank(peer, channel), true),
            &peer);
  } else {
    failAll(
        Status::make(ErrorCode::System, "shm: reading {} bytes from rank {}: {}", bytes, peer.rank, status.message()));
  }
  return false;
}

// The message's last slot is read.
void ShmTransport::Impl::finishMessage(Peer& peer) {
  Arrival& arrival = peer.arrival;
  ShmChannel& channel = *arrival.channel;
  if (arrival.into == Arrival::Into::Recv) {
    auto& recvs = channel.peers[static_cast<std::size_t>(peer.local)].recvs;
    complete(&channel, std::move(recvs.front().done), Status::ok());
    recvs.pop_front();
    --peer.waiting;
  } else if (arrival.into == Arrival::Into::Kept) {
    auto& from = channel.peers[static_cast<std::size_t>(peer.local)];
    from.kept.push_back(std::move(arrival.kept));
    // A receive posted while the message was coming in takes it now.
    if (!from.recvs.empty()) deliverKept(channel, peer, from.kept.front());
  }
  arrival.into = Arrival::Into::Nothing;
  arrival.data = nullptr;
}

// Hands the oldest kept message to the oldest receive (both exist), checked as in the ring.
void ShmTransport::Impl::deliverKept(ShmChannel& channel, Peer& peer, KeptMessage& message) {
  ChannelPeer& from = channel.peers[static_cast<std::size_t>(peer.local)];
  RecvOp op = std::move(from.recvs.front());
  from.recvs.pop_front();
  --peer.waiting;
  if (message.tag != op.tag || message.bytes != op.bytes) {
    const Status why = mismatchStatus(peer, channel, message.tag, message.bytes, op.tag, op.bytes);
    complete(&channel, std::move(op.done), why);
    from.kept.clear();
    breakChannelPeer(channel, peer, why);
    return;
  }
  if (message.bytes != 0) std::memcpy(op.data, message.data.get(), message.bytes);
  from.kept.pop_front();
  complete(&channel, std::move(op.done), Status::ok());
}

// A ChannelClosed slot: the peer's channel has ended. What it sent before still counts.
void ShmTransport::Impl::peerClosedChannel(Peer& peer, ShmChannel& channel) {
  if (!channel.closed.isOk()) return;
  failChannelPeer(channel, peer, closedStatus(peer, channel));
}

void ShmTransport::Impl::recv(ShmChannel& channel, int rank, int channelRank, std::uint64_t tag, void* data,
                              std::size_t bytes, Completion& done) {
  Peer* peer = accept(channel, rank, channelRank, done);
  if (peer == nullptr || !populateRing(*peer, false, 0, channel, done)) return;
  ChannelPeer& from = channel.peers[static_cast<std::size_t>(peer->local)];
  if (from.kept.empty() && !from.failure.isOk()) {
    complete(&channel, std::move(done), from.failure);
    return;
  }
  from.recvs.push_back(RecvOp{static_cast<std::byte*>(data), bytes, tag, std::move(done)});
  ++peer->waiting;
  if (!from.kept.empty()) {
    deliverKept(channel, *peer, from.kept.front());
    return;
  }
  if (from.recvs.size() == 1) progress(*peer);
  checkGone(*peer);
}

}  // namespace banyan::transport::shm
