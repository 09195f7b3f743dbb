#pragma once
// Predicts how long a schedule takes on a Topology, so the selector can take the cheapest.
//
// Terms
//   round    a set of transfers that all ranks make at once (one ring step, one recursive
//            doubling exchange); a schedule is a sequence of rounds.
//   alpha    a round's fixed cost: the latency of the slowest link class any transfer uses.
//   beta     a transfer's rate: its link class's bandwidth, divided among the transfers that
//            leave one host at once (they share its network interface).
//   gamma    the memory rate: reductions and local copies stream at it.
// A round costs alpha + bytes / beta + reduced bytes / gamma; a pipelined algorithm (the ring:
// slices of one step are reduced while the next ones travel) costs alpha + max(transfer,
// reduce). The model ignores contention inside a host and the executor's own overheads: it
// ranks algorithms, it does not promise times.

#include "common/collective.hpp"
#include "topology/topology.hpp"
#include "tuning/selection.hpp"

#include <cstddef>
#include <optional>

namespace banyan::tuning {

// Predicted microseconds for `algorithm` running `collective` with `bytes` per rank (as
// choose()), or std::nullopt when the model has no formula for it (or the algorithm cannot
// run on this rank count).
std::optional<double> predictUs(const topology::Topology& topology, Collective collective, Algorithm algorithm,
                                std::size_t bytes);

}  // namespace banyan::tuning
