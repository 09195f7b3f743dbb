#pragma once
// What banyan-topo prints: the topology the probe saw (hosts, ranks per host, links with their
// figures and where each came from) and the selection table (collective x size -> algorithm,
// predicted time, runner-up), as text and as Graphviz DOT.

#include "topology/topology.hpp"
#include "tuning/selector.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace banyan::topo_tool {

// 8 B to 64 MiB in x4 steps, then 64 MiB itself (the sizes the benchmarks sweep).
std::vector<std::size_t> tableSizes();

std::string textReport(const tuning::Selector& selector);

std::string dotReport(const tuning::Selector& selector);

// Every candidate's predicted time, one line each: "collective bytes algorithm us", for every
// power of two from 4 B to 64 MiB (bytes as choose() takes them: allgather, one rank's block).
// bench/topo_model.py sets these against measured times.
std::string predictionTable(const tuning::Selector& selector);

}  // namespace banyan::topo_tool
