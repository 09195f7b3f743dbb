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
#include "tuning/algorithm.hpp"

#include <cstddef>
#include <optional>

namespace banyan::tuning {

// Predicted microseconds for `algorithm` running `collective` with `bytes` per rank (as
// choose()): the formula of its registry row (algorithm_registry.hpp), or std::nullopt when the
// row has none (or the algorithm cannot run on this rank count, or the row is priced across
// hosts only and there is one host, or from more ranks than there are). One rank: the copy of
// `bytes`, whatever the algorithm.
std::optional<double> predictUs(const topology::Topology& topology, Collective collective, Algorithm algorithm,
                                std::size_t bytes);

// The formulas the registry rows point to, one per (algorithm, collective), for topologies of 2
// or more ranks that the algorithm's rank rule admits; `bytes` as choose() counts them.
// tests/unit/test_cost_walk.cpp prices the schedules themselves step by step and checks each
// formula against that walk.
namespace cost {
double ringAllreduce(const topology::Topology& t, double bytes);
double recursiveDoublingAllreduce(const topology::Topology& t, double bytes);
double rabenseifnerAllreduce(const topology::Topology& t, double bytes);
double doubleTreeAllreduce(const topology::Topology& t, double bytes);
double hierarchicalAllreduce(const topology::Topology& t, double bytes);
double ringAllgather(const topology::Topology& t, double block);
double recursiveDoublingAllgather(const topology::Topology& t, double block);
double bruckAllgather(const topology::Topology& t, double block);
double bruckDirectAllgather(const topology::Topology& t, double block);
double bruckDirectReduceScatter(const topology::Topology& t, double block);
double hierarchicalAllgather(const topology::Topology& t, double block);
double ringReduceScatter(const topology::Topology& t, double block);
double recursiveHalvingReduceScatter(const topology::Topology& t, double block);
double binomialBroadcast(const topology::Topology& t, double bytes);
double chainBroadcast(const topology::Topology& t, double bytes);
}  // namespace cost

}  // namespace banyan::tuning
