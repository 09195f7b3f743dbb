#pragma once
// Two-level hierarchical collectives. Allreduce: reduce inside each host to its leader (over
// shared memory), ring allreduce among the leaders (over the network), then each leader hands
// the result back to the ranks of its host (hierarchical_allreduce.cpp). Allgather: each leader
// gathers its host's blocks, the leaders pass whole hosts' blocks around a ring, and each leader
// hands every block to the ranks of its host (hierarchical_allgather.cpp).

#include "algorithms/schedule.hpp"

#include <cstddef>
#include <vector>

namespace banyan::algorithms {

// Allreduce of `count` elements; `hostOfRank[r]` is rank r's host (any numbering, any
// placement of ranks). `sliceCount`: the leaders' ring slice, as ringAllreduce's.
Schedule hierarchicalAllreduce(int rank, const std::vector<int>& hostOfRank, std::size_t count, std::size_t sliceCount);

// Allgather of `count` elements per rank (Output block r = rank r's Input, as ringAllgather);
// every message is at most sliceCount (>= 1) elements. No scratch.
Schedule hierarchicalAllgather(int rank, const std::vector<int>& hostOfRank, std::size_t count, std::size_t sliceCount);

}  // namespace banyan::algorithms
