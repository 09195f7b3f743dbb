#pragma once
// Ring schedules: every rank sends to (rank + 1) % size and receives from
// (rank - 1 + size) % size. The algorithms and their terms (chunk, slice, step) are explained
// at the top of ring_allreduce.cpp and ring_allgather.cpp.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Scratch slots of ring allreduce: received slices land in one of this many slots of
// sliceCount elements, reused round-robin (see ring_allreduce.cpp for why 8).
inline constexpr std::size_t kRingScratchSlots = 8;

// A range of elements [offset, offset + count).
struct ElementRange {
  std::size_t offset = 0;
  std::size_t count = 0;
};

// Part `index` of `count` elements split into `parts` contiguous parts as evenly as possible:
// the first count % parts parts have one element more. Parts may be empty when count < parts.
ElementRange evenPart(std::size_t count, int parts, int index);

// Allreduce of `count` elements. sliceCount (>= 1) is the largest message, in elements: each
// chunk is cut into slices of at most sliceCount elements and the ring pipelines slices.
// Scratch needed: at most kRingScratchSlots * sliceCount elements.
Schedule ringAllreduce(int rank, int size, std::size_t count, std::size_t sliceCount);

// Allgather of `count` elements per rank: Input holds count elements, Output size * count,
// and Output block r (elements [r * count, (r + 1) * count)) ends up holding rank r's Input.
// In place, Input is Output block `rank`. No scratch.
Schedule ringAllgather(int rank, int size, std::size_t count, std::size_t sliceCount);

}  // namespace banyan::algorithms
