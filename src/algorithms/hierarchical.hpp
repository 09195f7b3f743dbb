#pragma once
// Two-level hierarchical allreduce: reduce inside each host to its leader (over shared memory),
// ring allreduce among the leaders (over the network), then each leader hands the result back
// to the ranks of its host. Terms and the schedule are explained in hierarchical_allreduce.cpp.

#include "algorithms/schedule.hpp"

#include <cstddef>
#include <vector>

namespace banyan::algorithms {

// Allreduce of `count` elements; `hostOfRank[r]` is rank r's host (any numbering, any
// placement of ranks). `sliceCount`: the leaders' ring slice, as ringAllreduce's.
Schedule hierarchicalAllreduce(int rank, const std::vector<int>& hostOfRank, std::size_t count, std::size_t sliceCount);

}  // namespace banyan::algorithms
