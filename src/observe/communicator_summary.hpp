#pragma once
// What a communicator says once, at INFO, when it is made: which transport reaches each peer,
// how its ranks sit on hosts, and which algorithm each collective takes at each size. The
// table is found by asking the selection itself (tuning::choose, and the shared-memory engine's
// own test), so it can never disagree with what runs.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/collective.hpp"
#include "topology/host_layout.hpp"
#include "tuning/selection.hpp"

namespace banyan::transport {
class PerPeerTransport;
}

namespace banyan::observe {

// "shm to ranks 1-3; tcp to ranks 4-7" (or "no peers").
std::string peerTransports(const transport::PerPeerTransport& transport, int rank, int size);

// "2 hosts: [0-3] [4-7]".
std::string topologySummary(const topology::HostLayout& layout);

// One line per collective: "allreduce: 0-16384 B recursive-doubling, 16385 B and up ring".
// `inShm(kind, bytes)`: the shared-memory engine runs the call (its rows then say "shm"); may
// be empty. Sizes are as tuning::choose counts them.
// `chosen` is the communicator's own selection (its cost model and BANYAN_ALGO), so the table
// says what will run.
std::vector<std::string> algorithmTable(const std::function<bool(Collective, std::size_t)>& inShm,
                                        const std::function<tuning::Algorithm(Collective, std::size_t)>& chosen);

// "0-3,5": ranks in ascending order, runs collapsed.
std::string rankList(const std::vector<int>& ranks);

}  // namespace banyan::observe
