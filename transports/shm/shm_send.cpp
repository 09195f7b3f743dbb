// The sending side of the shared-memory transport: every channel's messages to a peer go into
// its ring in posting order, one FIFO per peer, so a message's slots stay consecutive.

#include "transports/shm/shm_impl.hpp"

#include "transports/shm/segment.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace banyan::transport::shm {

// Writes the next slot of `op` at `tail`.
static void writeSlot(const SegmentView& view, int local, std::uint64_t tail, SendOp& op,
                      const RingGeometry& geometry) {
  SlotHeader* slot = view.slot(local, tail);
  slot->tag = op.tag;
  slot->messageBytes = op.bytes;
  slot->channel = op.channel->id;
  if (op.closing) {
    slot->kind = SlotKind::ChannelClosed;
    slot->bytes = 0;
    op.posted = true;
  } else if (op.crossMemory) {
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
}

// Moves as much of the peer's send queue into its ring as fits; true if anything moved.
bool ShmTransport::Impl::pumpSends(Peer& peer) {
  bool moved = false;
  const auto& geometry = params.geometry;
  while (!peer.sends.empty()) {
    SendOp& op = peer.sends.front();
    while (!op.posted) {
      const std::uint64_t tail = peer.out->tail.load(std::memory_order_relaxed);
      if (tail - peer.out->head.load(std::memory_order_acquire) >= geometry.slots) break;
      writeSlot(myView, peer.local, tail, op, geometry);
      peer.out->tail.store(tail + 1, std::memory_order_release);
      moved = true;
    }
    if (!op.posted) break;
    if (op.crossMemory && peer.out->head.load(std::memory_order_acquire) <= op.lastSlot) break;
    complete(op.channel, std::move(op.done), Status::ok());
    peer.sends.pop_front();
    moved = true;
  }
  return moved;
}

void ShmTransport::Impl::send(ShmChannel& channel, int rank, int channelRank, std::uint64_t tag, const void* data,
                              std::size_t bytes, Completion& done) {
  Peer* peer = accept(channel, rank, channelRank, done);
  if (peer == nullptr) return;
  const Status& failed = channel.peers[static_cast<std::size_t>(peer->local)].failure;
  if (!failed.isOk()) {
    complete(&channel, std::move(done), failed);
    return;
  }
  const bool crossMemory = peer->crossMemoryToPeer && bytes >= params.crossMemoryBytes && bytes != 0;
  if (!populateRing(*peer, true, crossMemory ? 0 : bytes, channel, done)) return;
  // The usual small message: nothing queued before it and a free slot, so it is written now
  // (what pumpSends would do, without the queue).
  if (peer->sends.empty() && !crossMemory && bytes <= params.geometry.slotPayload) {
    const std::uint64_t tail = peer->out->tail.load(std::memory_order_relaxed);
    if (tail - peer->out->head.load(std::memory_order_acquire) < params.geometry.slots) {
      SlotHeader* slot = myView.slot(peer->local, tail);
      slot->tag = tag;
      slot->messageBytes = bytes;
      slot->channel = channel.id;
      slot->kind = SlotKind::Inline;
      slot->bytes = static_cast<std::uint32_t>(bytes);
      if (bytes != 0) std::memcpy(SegmentView::payload(slot), data, bytes);
      peer->out->tail.store(tail + 1, std::memory_order_release);
      complete(&channel, std::move(done), Status::ok());
      wake(*peer);
      checkGone(*peer);
      return;
    }
  }
  SendOp op{static_cast<const std::byte*>(data), bytes, tag, std::move(done), &channel};
  op.crossMemory = crossMemory;
  peer->sends.push_back(std::move(op));
  if (peer->sends.size() == 1) progress(*peer);
  checkGone(*peer);
}

// Gives a ring its pages before they are first used, a batch at a time: a fault per page in
// the middle of a collective would cost more, and a full /dev/shm fails the call with an
// error instead of a SIGBUS. The sender allocates: on its first message to the peer the
// ring's control, every slot header and the first page of every payload (small messages
// never need more: 17 pages); on its first message that fills more of a slot, the whole ring
// (513 KiB). The receiver only reads pages the sender allocated, except the control line,
// which it may read first. Returns false after completing `done` with the error.
bool ShmTransport::Impl::populateRingNow(Peer& peer, bool outgoing, std::size_t inlineBytes, ShmChannel& channel,
                                         Completion& done) {
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
    complete(&channel, std::move(done), Status::make(e.code(), "shm: {}", e.detail()));
    return false;
  }
  peer.inControl = peer.inControl || control;
  peer.outSmall = peer.outSmall || small;
  peer.outFull = peer.outFull || whole;
  return true;
}

}  // namespace banyan::transport::shm
