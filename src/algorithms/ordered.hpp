#pragma once
// Ordered reductions, for deterministic mode (docs/numerics.md): every element of the result is
// the left fold over the ranks in ascending order, ((x0 op x1) op x2) ... op x(size-1), and
// avg divides that once. The order depends on nothing but the rank count, so the bits of the
// result do not change with the message size, the slice size, the transport or any setting
// that picks a different algorithm; the one-host shared-memory engine folds in the same order
// (intrahost/shm_collectives.hpp), so it gives the same bits too.
//
// Buffers as the collective's other schedules (ring.hpp, reduce_scatter.hpp, rooted_reduce.hpp).
// Scratch: at most (2 + kOrderedRecvSlots) * sliceCount elements.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Received contributions land in one of this many Scratch slots of sliceCount elements, reused
// round-robin in fold order (as the ring's kRingScratchSlots).
inline constexpr std::size_t kOrderedRecvSlots = 8;

// Allreduce of `count` elements: an ordered reduce-scatter (block b = evenPart(count, size, b),
// every rank sends its block b straight to rank b, which folds the contributions in rank
// order), then a direct allgather of the finished blocks.
Schedule orderedAllreduce(int rank, int size, std::size_t count, std::size_t sliceCount);

// Reduce-scatter of `count` elements per block: the allreduce's first half, block b being
// Input elements [b * count, (b + 1) * count).
Schedule orderedReduceScatter(int rank, int size, std::size_t count, std::size_t sliceCount);

// Reduce of `count` elements onto `root`: the allreduce's first half, then every rank sends
// its finished block to the root (a direct gather).
Schedule orderedReduce(int rank, int size, int root, std::size_t count, std::size_t sliceCount);

}  // namespace banyan::algorithms
