#pragma once
// Bruck allgather: ceil(log2(size)) rounds for any rank count, for small blocks where the
// ring's size - 1 latency-bound steps cost more than Bruck's extra local copies. Terms and the
// algorithm are explained in bruck.cpp.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Allgather of `count` elements per rank. Scratch needed: size * count elements.
Schedule bruckAllgather(int rank, int size, std::size_t count);

}  // namespace banyan::algorithms
