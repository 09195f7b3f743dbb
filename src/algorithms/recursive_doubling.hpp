#pragma once
// Recursive-doubling allreduce: log2(size) rounds of whole-vector exchanges, for small
// messages where the ring's 2 * (size - 1) latency-bound steps cost more than the extra bytes.
// Terms and the fold for rank counts that are not powers of two are explained in
// recursive_doubling.cpp.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Allreduce of `count` elements. Scratch needed: `count` elements (one received vector).
Schedule recursiveDoublingAllreduce(int rank, int size, std::size_t count);

// Allgather of `count` elements per rank, for `size` a power of two (see
// recursive_doubling_allgather.cpp). No scratch.
Schedule recursiveDoublingAllgather(int rank, int size, std::size_t count);

}  // namespace banyan::algorithms
