#pragma once
// Alltoall schedules: every rank sends a block to every rank.
//
// Alltoall buffers: Input and Output hold size blocks of `count` elements; Input block p of
// rank r ends up in Output block r of rank p. In place, Input is Output (same memory).
// Alltoallv buffers: rank r sends sendCounts[p] elements from Input at sendOffsets[p] to rank
// p, and receives recvCounts[p] elements from rank p into Output at recvOffsets[p]; the caller
// keeps the tables consistent (r's sendCounts[p] is p's recvCounts[r]). A zero-length block is
// no message at all, on both sides. Receive blocks must not overlap; Output outside them is not
// touched.

#include "algorithms/schedule.hpp"

#include <cstddef>
#include <span>

namespace banyan::algorithms {

// Pairwise exchange, for large blocks: at step k = 1 .. size - 1 rank r sends to r + k and
// receives from r - k, a few steps in flight at a time (pairwise_alltoall.cpp). No scratch.
// Out of place only: in place, a block would be overwritten before it is sent (and swapping
// safely needs a copy of the buffer), so for an in-place call copy the input aside or use
// bruckAlltoall.
Schedule pairwiseAlltoall(int rank, int size, std::size_t count);

// The same with per-peer counts and offsets (each table has `size` entries). Out of place only.
Schedule pairwiseAlltoallv(int rank, int size, std::span<const std::size_t> sendCounts,
                           std::span<const std::size_t> sendOffsets, std::span<const std::size_t> recvCounts,
                           std::span<const std::size_t> recvOffsets);

// Bruck, for small blocks and any rank count: ceil(log2(size)) rounds, each moving about half
// of the blocks (bruck_alltoall.cpp). Works in place. Scratch: (size + 2 * ceil(size / 2)) *
// count elements at most.
Schedule bruckAlltoall(int rank, int size, std::size_t count);

}  // namespace banyan::algorithms
