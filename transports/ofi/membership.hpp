#pragma once
// Who may put bytes into an ofi endpoint: only the ranks of the job (docs/security.md).
//
// Reliable-datagram endpoints have no connection to challenge, so the TCP transport's
// handshake has no place here. What libfabric offers instead, and what banyan does with it:
//
// - Directed receives (FI_DIRECTED_RECV): every data receive is posted for the address vector
//   entry of the one rank it expects, so a message from any other address, whatever its tag,
//   never matches it and never lands in a user buffer.
// - Source addresses (FI_SOURCE): each completion names the address vector entry it came from
//   (FI_ADDR_NOTAVAIL for an address the job did not insert). Control messages land in a pool of
//   receives open to every rank, so each one is checked against the rank it claims to be from;
//   one from any other address is dropped and logged (bounded: the receive is posted again,
//   nothing is kept), and so is a control receive that a too-long message truncated (no rank
//   sends one).
// - A MAC on every control message (ofi_wire.hpp), with the job key over the message and the rank
//   it is for: where the provider takes the source address on the sender's word (shm 1.17
//   reported a stranger's first message as coming from rank 0's address), a forged Ready,
//   Done, Mismatch or Probe is still refused. Replaying a captured one needs a copy of the
//   job's traffic (same user, or on the path), which the threat model leaves out.
// - Unguessable RMA keys: where the provider lets the user choose a region's key (no
//   FI_MR_PROV_KEY), each registration gets random bits, so an endpoint that does not hold the
//   key a rank sent inside the job cannot write into that rank's memory.
//
// Both capabilities are asked of the provider, and used when it grants them and the job is
// authenticated (BANYAN_AUTH on); a provider without them runs with MACs only, and its
// description says "sources not checked". What none of this stops (docs/security.md): data
// messages from a process that the provider reports under a rank's address (shm), and a flood
// of messages that match no receive, which the provider keeps in its unexpected-message queue.

#include <rdma/fabric.h>

#include "security/job_key.hpp"
#include "transports/ofi/ofi_wire.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace banyan::transport::ofi {

// Control messages carry a MAC with the job key (ofi_wire.hpp): seal before sending to rank `to`;
// sealed() is true only for a message sealed with the same key for `to`.
void seal(ControlMessage& message, int to, const security::JobKey& key);
bool sealed(const ControlMessage& message, int to, const security::JobKey& key);

// What banyan asks for, on top of what it needs, to keep strangers out.
constexpr std::uint64_t kMembershipCaps = FI_DIRECTED_RECV | FI_SOURCE;

// A key for a new registration: random bits, as many as the provider's keys hold
// (mr_key_size; 8 bytes and more: 64 bits).
std::uint64_t randomRegistrationKey(std::size_t keyBytes);

// Counts the messages dropped because they came from outside the job, and logs them: the
// first at once, then at most one line a second with the count since, so a flood cannot fill
// the log. Not thread-safe: the transport calls it under its mutex.
class StrangerLog {
 public:
  explicit StrangerLog(int rank) : rank_(rank) {}
  // `what`: what arrived ("a control message claiming rank 3", ...).
  void dropped(const std::string& provider, const std::string& what);
  std::uint64_t count() const { return count_; }

 private:
  int rank_;
  std::uint64_t count_ = 0;
  std::uint64_t reported_ = 0;
  std::chrono::steady_clock::time_point lastReport_{};
};

}  // namespace banyan::transport::ofi
