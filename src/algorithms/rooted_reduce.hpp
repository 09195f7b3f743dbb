#pragma once
// Reduce schedules: the element-wise reduction of every rank's `count` elements, onto `root`.
//
// Buffers: Input holds count elements on every rank; Output count elements on the root only
// (other ranks have no Output, and partial sums live in their Scratch). In place, the root's
// Input is its Output. The Reduce that completes an element (always on the root) is marked
// finalize.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Binomial tree, for small messages: ceil(log2(size)) rounds (binomial_reduce.cpp). Scratch:
// one buffer per child, plus the partial sum off the root; at most (log2(size) + 1) * count.
Schedule binomialReduce(int rank, int size, int root, std::size_t count);

// Pipelined chain ending at the root, in slices of at most sliceCount elements, for large
// messages (chain_reduce.cpp, which also says why not reduce-scatter + gather). Scratch: at
// most kRingScratchSlots slices.
Schedule chainReduce(int rank, int size, int root, std::size_t count, std::size_t sliceCount);

}  // namespace banyan::algorithms
