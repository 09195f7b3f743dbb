#pragma once
// Rabenseifner allreduce: recursive-halving reduce-scatter, then recursive-doubling allgather,
// with a fold for rank counts that are not powers of two. Terms and the schedule are explained
// in rabenseifner.cpp.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Allreduce of `count` elements. Scratch needed: count / 2 + 1 elements (the halves received
// while reducing), plus `count` on ranks that absorb a folded rank.
Schedule rabenseifnerAllreduce(int rank, int size, std::size_t count);

}  // namespace banyan::algorithms
