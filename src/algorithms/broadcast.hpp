#pragma once
// Broadcast schedules: `count` elements from `root` to every rank.
//
// Buffers: Output holds count elements on every rank and ends up holding the root's data; the
// root's Input holds that data (count elements), other ranks have no Input. In place (the
// usual single-buffer broadcast), the root's Input is its Output: the root's Copy is then a
// no-op.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Binomial tree, for small messages: ceil(log2(size)) rounds of whole-buffer messages
// (binomial_broadcast.cpp). No scratch.
Schedule binomialBroadcast(int rank, int size, int root, std::size_t count);

// Pipelined chain root -> root + 1 -> ... in slices of at most sliceCount elements, for large
// messages: every link carries the data once, so the time approaches one transfer of the whole
// buffer (chain_broadcast.cpp). No scratch.
Schedule chainBroadcast(int rank, int size, int root, std::size_t count, std::size_t sliceCount);

}  // namespace banyan::algorithms
