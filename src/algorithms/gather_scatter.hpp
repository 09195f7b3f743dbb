#pragma once
// Gather and scatter schedules: `count` elements per rank, collected on or handed out from
// `root`.
//
// Gather buffers: Input holds count elements on every rank; Output holds size * count on the
// root only, block j (elements [j * count, (j + 1) * count)) ending up with rank j's Input. In
// place, the root's Input is its Output block root.
// Scatter buffers: Input holds size * count elements on the root only; Output holds count
// elements on every rank, rank j's receiving the root's Input block j. In place, the root's
// Output is its Input block root.

#include "algorithms/schedule.hpp"

#include <cstddef>

namespace banyan::algorithms {

// Binomial trees, for small blocks: ceil(log2(size)) rounds; subtrees travel as one message
// (binomial_gather.cpp, binomial_scatter.cpp). Scratch on inner ranks: their subtree's blocks,
// at most size / 2 * count.
Schedule binomialGather(int rank, int size, int root, std::size_t count);
Schedule binomialScatter(int rank, int size, int root, std::size_t count);

// Direct: every rank exchanges its block with the root itself (direct_gather_scatter.cpp). The
// root handles size - 1 messages, but no block is forwarded and nothing needs scratch: for
// large blocks, where the root's link is the bottleneck either way.
Schedule directGather(int rank, int size, int root, std::size_t count);
Schedule directScatter(int rank, int size, int root, std::size_t count);

}  // namespace banyan::algorithms
