#pragma once
// The bytes of a rank's shared-memory segment, as every process on the host sees them.
//
//   Header        one page: the rank's `sleeping` word, its pid, the CMA probe word and, per
//                 local peer, whether this rank can read that peer with process_vm_readv.
//   Ring[L]       one ring per local rank (the slot for itself unused): the messages this
//                 rank sends to that peer. The sender (owner) advances `tail`, the receiver
//                 advances `head`; each on its own cache line, so the two never share one.
//
// A ring is single-producer/single-consumer and lock-free: the producer writes a slot, then
// stores tail + 1 with release; the consumer loads tail with acquire, reads the slot, then
// stores head + 1 with release, which hands the slot back. A message longer than a slot's
// payload takes several consecutive slots; a message sent by cross-memory attach takes one slot
// holding its address, and the slot is handed back (head moves) only after the receiver has
// copied it, which is how the sender learns that its buffer is free again.
//
// Every slot names its message's channel (transport.hpp, ChannelSpec; 0: the transport's own).
// A ChannelClosed slot (no payload) says the sender's channel has ended: the receiver's
// receives on it from the sender fail, and a message of that channel it was in the middle of
// ends there (the sender lent nothing more of it).

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace banyan::transport::shm {

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kHeaderBytes = 4096;
inline constexpr int kMaxLocalRanks = 2048;  // canReadFrom below must fit the header page

struct alignas(kCacheLine) SegmentHeader {
  alignas(kCacheLine) std::atomic<std::uint32_t> sleeping;  // 1: the owner may block in epoll
  std::atomic<std::uint32_t> closed;                        // 1: the owner shut its transport down
  alignas(kCacheLine) std::uint64_t probe;                  // CMA probe value (see cma.hpp)
  std::uint64_t probeAddress;                               // &probe in the owner's address space
  std::int64_t pid;
  std::uint8_t canReadFrom[kMaxLocalRanks];  // by local index
};
static_assert(sizeof(SegmentHeader) <= kHeaderBytes);

enum class SlotKind : std::uint32_t { Inline = 0, CrossMemory = 1, ChannelClosed = 2 };

struct alignas(kCacheLine) SlotHeader {
  std::uint64_t tag;
  std::uint64_t messageBytes;  // of the whole message
  std::uint32_t bytes;         // payload in this slot (Inline)
  SlotKind kind;
  std::uint64_t address;  // CrossMemory: where the message is in the sender
  std::uint64_t channel;  // the message's channel
};
static_assert(sizeof(SlotHeader) == kCacheLine);

struct RingControl {
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;
  alignas(kCacheLine) std::atomic<std::uint64_t> head;
};

// Geometry shared by every rank of a communicator (both ends must agree).
struct RingGeometry {
  std::uint32_t slots = 8;
  std::uint32_t slotPayload = 64 * 1024;

  std::size_t slotStride() const { return sizeof(SlotHeader) + slotPayload; }
  std::size_t ringBytes() const { return sizeof(RingControl) + slots * slotStride(); }
  std::size_t segmentBytes(int localRanks) const {
    return kHeaderBytes + static_cast<std::size_t>(localRanks) * ringBytes();
  }
};

// Views into one segment.
struct SegmentView {
  std::byte* base = nullptr;
  RingGeometry geometry;

  SegmentHeader* header() const { return reinterpret_cast<SegmentHeader*>(base); }
  RingControl* ring(int localIndex) const {
    return reinterpret_cast<RingControl*>(base + kHeaderBytes +
                                          static_cast<std::size_t>(localIndex) * geometry.ringBytes());
  }
  SlotHeader* slot(int localIndex, std::uint64_t sequence) const {
    auto* first = reinterpret_cast<std::byte*>(ring(localIndex)) + sizeof(RingControl);
    return reinterpret_cast<SlotHeader*>(first + (sequence % geometry.slots) * geometry.slotStride());
  }
  static std::byte* payload(SlotHeader* slot) { return reinterpret_cast<std::byte*>(slot) + sizeof(SlotHeader); }
};

}  // namespace banyan::transport::shm
