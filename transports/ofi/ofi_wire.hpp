#pragma once
// What the ofi transport puts on the fabric besides user bytes.
//
// Every message between a pair carries a tag made of the sender's rank and a per-pair
// sequence number, and the receiver posts its n-th receive from a peer with the n-th tag: the
// in-order matching the Transport interface promises then holds whatever order the provider
// delivers in, and the provider never confuses two peers' messages.
//
// Large messages (BANYAN_OFI_RMA_BYTES and more, where the provider has RMA) are written
// straight into the receiver's buffer: the receiver registers its buffer and sends a Ready
// control message (its address, key, the length and operation it expects, and an id); the
// sender checks them against its own and writes, the last write carrying the id as remote CQ
// data, or, where the provider has no CQ data, followed by a Done control message. Control
// messages have the top tag bit set and land in a pool of receives posted in advance.
//
// Whichever side finds that a message does not fit (a length, an operation) sends the other a
// Mismatch control message with its own length and operation, so the other side fails with
// the same error rather than waiting for its deadline.

#include <cstdint>

namespace banyan::transport::ofi {

constexpr std::uint64_t kControlTag = std::uint64_t{1} << 63;
constexpr int kSeqBits = 40;
constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kSeqBits) - 1;
constexpr int kMaxRanks = 1 << 22;  // rank field: bits 40..61

constexpr std::uint64_t dataTag(int sender, std::uint64_t seq) {
  return (static_cast<std::uint64_t>(sender) << kSeqBits) | (seq & kSeqMask);
}

// Probe: "are you there?" while operations with the peer are outstanding; the receiver ignores
// it, and its send failing is the answer (ofi_liveness.hpp).
// Credit: the sender of it received `pieces` more messages from the receiver of it, which may
// send that many more (flow_control.hpp; over shm only).
enum class ControlKind : std::uint32_t { Ready = 1, Done = 2, Mismatch = 3, Probe = 4, Credit = 5 };

struct ControlMessage {
  static constexpr std::uint32_t kMagic = 0xBA0F1C7E;
  std::uint32_t magic = kMagic;
  ControlKind kind = ControlKind::Ready;
  std::int32_t from = -1;       // sender's rank
  std::uint32_t pieces = 0;     // Ready: how many writes the message takes; Credit: messages received
  std::uint64_t seq = 0;        // the message's per-pair sequence number
  std::uint64_t bytes = 0;      // Ready: the length the receiver expects; Mismatch: the teller's own
  std::uint64_t operation = 0;  // Ready: the operation the receiver expects; Mismatch: the teller's own
  std::uint64_t address = 0;    // Ready: where to write (virtual address or offset, per mr_mode)
  std::uint64_t key = 0;        // Ready: the region's remote key
  std::uint64_t id = 0;         // names the receive in remote CQ data / Done
  // HMAC-SHA256 with the job key over the fields above and the receiver's rank, so no process
  // without the key can forge one (membership.hpp); zeros when the job is not authenticated.
  std::uint8_t mac[32] = {};
};

}  // namespace banyan::transport::ofi
