#include "runtime/call_text.hpp"

#include "common/hash_mix.hpp"

#include <banyan/communicator.hpp>

#include <fmt/format.h>

namespace banyan::detail {

std::string describeOperation(const Pending& p, int rank, int size) {
  const CollectiveCall& r = p.call;
  if (r.kind == Collective::Barrier) return fmt::format("barrier #{} on rank {} of {}", p.sequence, rank, size);
  std::string details = fmt::format("count={}, {}", r.count, toString(r.type));
  if (p.fused) details += fmt::format(", {} calls fused", p.fused->parts.size());
  if (r.premulFactor) {
    details += fmt::format(", premul_sum({})", *r.premulFactor);
  } else if (reduces(r.kind)) {
    details += fmt::format(", {}", toString(r.op));
  }
  if (isRooted(r.kind)) details += fmt::format(", root={}", r.root);
  return fmt::format("{} #{} ({}) on rank {} of {}", apiName(r.kind), p.sequence, details, rank, size);
}

std::string describeCall(const Pending& p) {
  const CollectiveCall& r = p.call;
  return banyan::describeCall(r.kind, r.count, r.type, r.op, r.root, p.sequence);
}

std::string describeTransfer(const PointToPointCall& r, std::uint64_t number, int rank, int size) {
  const std::string peer = r.peer == Communicator::kAnySource ? "any rank" : fmt::format("rank {}", r.peer);
  return fmt::format("{} #{} {} {} (count={}, {}, tag={}) on rank {} of {}", r.isSend ? "send" : "recv", number,
                     r.isSend ? "to" : "from", peer, r.count, toString(r.type), r.tag, rank, size);
}

std::uint16_t callFingerprint(const CollectiveCall& r) {
  HashMix mix;
  mix.add(static_cast<std::uint64_t>(r.kind)).add(static_cast<std::uint64_t>(r.type));
  if (reduces(r.kind)) mix.add(static_cast<std::uint64_t>(r.op));
  if (isRooted(r.kind)) mix.add(static_cast<std::uint64_t>(r.root));
  // Alltoallv's count is what this rank sends, which differs between ranks by design.
  if (r.kind != Collective::Alltoallv) mix.add(r.count);
  // Folded to the 16 bits a message tag has room for.
  const std::uint64_t h = mix.value();
  return static_cast<std::uint16_t>(h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48));
}

}  // namespace banyan::detail
