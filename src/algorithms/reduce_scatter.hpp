#pragma once
// Reduce-scatter schedules: the reduction of size blocks of `count` elements, block r landing
// on rank r.
//
// Buffers: Input holds size * count elements (block b = elements [b * count, (b + 1) * count)),
// Output count elements: the reduction over all ranks of Input block `rank`. In place, Output
// is Input block `rank` (the caller's buffer holds all size blocks and the result replaces the
// rank's own block, as NCCL's recvbuff == sendbuff + rank * count); the other blocks are left
// as they were. The Reduce that completes an element is marked finalize.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Ring, bandwidth-optimal: size - 1 steps, each moving one block per rank, pipelined in slices
// of at most sliceCount elements (ring_reduce_scatter.cpp). Scratch: ceil(count / sliceCount)
// + 1 slices, about one block.
Schedule ringReduceScatter(int rank, int size, std::size_t count, std::size_t sliceCount);

// Recursive halving, latency-optimal: log2 rounds, halving the data each round; rank counts
// that are not powers of two fold pairs of ranks first (recursive_halving_reduce_scatter.cpp).
// Scratch: 3/4 of the input (size * count) for powers of two; on other rank counts up to the
// input's size, and on the ranks that take a fold the input's size again for the folded copy.
Schedule recursiveHalvingReduceScatter(int rank, int size, std::size_t count);

}  // namespace banyan::algorithms
