#pragma once
// The API front's argument checks: everything that would crash, corrupt or hang is refused on
// the caller's thread with an InvalidUsage naming the argument, before anything is queued.

#include "common/call.hpp"

namespace banyan::detail {

// Throws banyan::Error (InvalidUsage) when `call` cannot run on rank `rank` of `size`.
void checkCall(const CollectiveCall& call, int rank, int size);
void checkCall(const PointToPointCall& call, int rank, int size);

// A checked compressed allreduce's ErrorFeedback, bound to the call's count at its first use
// (a zero residual of `count` elements). On the caller's thread, after checkCall.
void bindErrorFeedback(const CollectiveCall& call);

}  // namespace banyan::detail
