#pragma once
// The control channel's datagrams (resilience/control_plane.hpp): what one rank tells another
// about liveness, failures, revocation and agreement, outside the data connections. Each is one
// UDP datagram: a fixed header, then the fields of its kind, all little-endian as written here
// (every rank of a job runs on x86-64 or another little-endian host).
//
//   header     magic "BNYC" (4), version (1), kind (1), reserved (2), communicator nonce (8),
//              sender's rank (4)
//   Heartbeat  entered (8): 1 + the sequence number of the last operation the sender entered
//              (0: none yet)
//   Failure    lost rank (4), detecting rank (4), cause (2-byte length, text); a lost rank equal to
//              the sender: the sender's own operation failed (why, in the text) and it closes
//   Revoke     revoking rank (4), reason (2-byte length, text)
//   Propose    epoch (8), flag (8), failed ranks (4-byte count, 4 each)
//   Query      epoch (8)
//   Decide     epoch (8), flag (8), failed ranks (4-byte count, 4 each), payload (2-byte length,
//              bytes): what the coordinator adds, such as the address of a new store (shrink)
//   Goodbye    (nothing): the sender closed its communicator with no operation pending
//
// decode() accepts only a whole, well-formed datagram of a known kind and version; anything else
// (a stranger's packet, a truncated one) is std::nullopt, and the control plane drops it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace banyan::resilience {

enum class MessageKind : std::uint8_t { Heartbeat = 1, Failure, Revoke, Propose, Query, Decide, Goodbye };

// What one agreement round carries (agree() in control_plane.hpp).
struct Ballot {
  std::uint64_t epoch = 0;
  std::uint64_t flag = 0;
  std::vector<int> failed;  // ascending
  std::string payload;      // Decide only
};

struct ControlMessage {
  MessageKind kind = MessageKind::Heartbeat;
  std::uint64_t nonce = 0;
  int from = -1;
  std::uint64_t entered = 0;  // Heartbeat
  int subject = -1;           // Failure: the lost rank; Revoke: the revoking rank
  int detectedBy = -1;        // Failure
  std::string text;           // Failure: cause; Revoke: reason
  Ballot ballot;              // Propose, Query (epoch only), Decide
};

// The largest datagram encode() writes; texts are cut to fit and failed lists longer than
// kMaxFailedRanks are refused by the caller (control_plane.cpp).
constexpr std::size_t kMaxDatagram = 60 * 1024;
constexpr std::size_t kMaxText = 2000;
constexpr std::size_t kMaxFailedRanks = 14000;

std::vector<std::uint8_t> encode(const ControlMessage& message);
std::optional<ControlMessage> decode(const std::uint8_t* data, std::size_t size);

}  // namespace banyan::resilience
