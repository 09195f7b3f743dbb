#pragma once
// What banyan-sim's sweep (banyan_sim.cpp) and its --validate (sim_validate.cpp) share.

#include <string>
#include <vector>

#include "common/collective.hpp"
#include "simulate/cluster.hpp"
#include "tools/bench/bench_args.hpp"
#include "topology/topology.hpp"
#include "tuning/algorithm.hpp"

namespace banyan::sim_tool {

Collective toCollective(bench::Collective collective);

// The algorithms to simulate for `collective` on `ranks` ranks: the cost model's candidates
// (those with a formula) where the collective has any, else every one with a schedule; always
// only those the rank count admits.
std::vector<tuning::Algorithm> defaultAlgorithms(Collective collective, int ranks);

// The Topology the selector and the cost model see for a cluster (cores unknown).
topology::Topology topologyOf(const simulate::Cluster& cluster);

// 1234.5 -> "1234.5", 0.25 -> "0.25": times with 4 significant digits at least.
std::string formatUs(double us);

// `bytes` as 8, 4K, 64M or 1G when exact, else plain.
std::string formatBytes(std::size_t bytes);

}  // namespace banyan::sim_tool
