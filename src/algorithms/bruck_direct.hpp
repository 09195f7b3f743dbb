#pragma once
// Bruck's rounds with every block received where it finally belongs: an allgather and a
// reduce-scatter in ceil(log2(size)) rounds for any rank count, for many hosts with one rank
// each, where the ring's size - 1 latency-bound steps dominate (docs/algorithms-at-scale.md
// says where each wins). Terms and the algorithms are in bruck_direct_allgather.cpp and
// bruck_direct_reduce_scatter.cpp.

#include "algorithms/schedule.hpp"

#include <cstddef>
#include <vector>

namespace banyan::algorithms {

// Allgather of `count` elements per rank. No scratch, and no local pass over the output
// (Bruck's rotation), at the price of a round's blocks being two messages where they wrap past
// the last rank.
Schedule bruckDirectAllgather(int rank, int size, std::size_t count);

// Reduce-scatter (reduce_scatter.hpp's buffers) by the same rounds run backwards. Works in
// place. Scratch: the partial sums of about size / 2 blocks and a receive area of about
// size / 4 blocks (3/4 of the input on powers of two, as recursive halving), and no fold on
// other rank counts.
Schedule bruckDirectReduceScatter(int rank, int size, std::size_t count);

// The round distances 1, 2, 4, ... < size, and how many blocks round d moves: min(d, size - d).
struct BruckRound {
  std::size_t distance;
  std::size_t blocks;
};
std::vector<BruckRound> bruckRounds(std::size_t size);

}  // namespace banyan::algorithms
