#pragma once
// How the runtime names an operation in errors and logs, and the fingerprint of a call that
// rides in every message tag so that ranks in different calls find out at the first message.

#include "common/call.hpp"
#include "runtime/operation.hpp"

#include <cstdint>
#include <string>

namespace banyan::detail {

// "broadcast #7 (count=1024, f32, root=2) on rank 1 of 4"; the op only where it matters.
std::string describeOperation(const Pending& pending, int rank, int size);
// "allreduce(count=1024,f32,sum) #17": what every rank's call must agree on (common/call.hpp).
std::string describeCall(const Pending& pending);
// "send #3 to rank 2 (count=16, f32, tag=5) on rank 0 of 4"
std::string describeTransfer(const PointToPointCall& call, std::uint64_t number, int rank, int size);
// 16 bits of what every rank's call must agree on (kind, count, type, op, root).
std::uint16_t callFingerprint(const CollectiveCall& call);

}  // namespace banyan::detail
