#pragma once
// The names of the algorithms, as the selector, the plan cache and the logs pass them around.
// What each one serves, needs, costs and generates is its row in algorithm_registry.cpp.

#include <string_view>

namespace banyan::tuning {

// The numbers are part of a tuning table's hash (tune_table.cpp): append, do not reorder.
enum class Algorithm {
  Ring,
  RecursiveDoubling,
  Bruck,
  RecursiveHalving,  // reduce-scatter
  BinomialTree,      // broadcast, reduce, gather, scatter
  Chain,             // broadcast, reduce: pipelined
  Direct,            // gather, scatter: every rank talks to the root
  Pairwise,          // alltoall
  Dissemination,     // barrier
  Hierarchical,      // allreduce: reduce inside hosts, ring among host leaders, hand back
  Rabenseifner,      // allreduce: recursive-halving reduce-scatter + recursive-doubling allgather
  DoubleTree,        // allreduce: two pipelined binary trees with disjoint interiors, half the data each
  SharedMemory,      // one host: the shared-memory engine (intrahost/), no schedule; not reduce, alltoallv
  Ordered,           // allreduce, reduce-scatter, reduce folded in rank order: deterministic mode (docs/numerics.md)
  BruckDirect,       // allgather, reduce-scatter: Bruck's log2 rounds straight into place, any rank count
};

// The algorithm's BANYAN_ALGO name ("recursive-doubling"), as logs and banyan-topo print it.
std::string_view toString(Algorithm algorithm);

}  // namespace banyan::tuning
