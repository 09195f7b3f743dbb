// Bruck allgather as a schedule.
//
// Terms
//   block     `count` elements: one rank's contribution.
//   rotated   Scratch holds blocks in an order rotated by this rank: Scratch block i is the
//             block of rank (rank + i) mod size. Scratch block 0 is this rank's own Input.
//   round     for distance d = 1, 2, 4, ... < size: send the first min(d, size - d) Scratch
//             blocks to rank (rank - d) mod size, and receive the same number of blocks from
//             rank (rank + d) mod size into Scratch blocks [d, d + that number). Rank
//             (rank + d)'s first blocks are the blocks of ranks rank + d, rank + d + 1, ...,
//             which are exactly this rank's rotated blocks d, d + 1, ...
//
// After the rounds Scratch holds all `size` blocks in rotated order, and one copy per block
// puts block i into Output block (rank + i) mod size. That takes ceil(log2(size)) message
// latencies against the ring's size - 1, at the price of a local pass over the whole output:
// a win for small blocks only.
//
// Dependencies: a round's send reads the copied-in block 0 and the blocks the earlier rounds
// received, so it depends on the copy and on the previous round's receive; each receive
// depends on the one before, so that is all of them. (The chain costs nothing: the block a
// round receives is only sent after its sender's own previous receive anyway.) A round's receive writes blocks nothing
// has touched yet. Each final copy depends on the step that filled its Scratch block.

#include "algorithms/bruck.hpp"

#include <algorithm>
#include <vector>

namespace banyan::algorithms {

Schedule bruckAllgather(int rank, int size, std::size_t count) {
  Schedule schedule;
  if (count == 0) return schedule;
  const auto n = static_cast<std::size_t>(size);
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, Span{BufferId::Input, 0, count}));
    return schedule;
  }
  schedule.scratchCount = n * count;
  auto scratch = [&](std::size_t first, std::size_t blocks) {
    return Span{BufferId::Scratch, first * count, blocks * count};
  };

  // filledBy[i]: the step that wrote Scratch block i.
  std::vector<std::uint32_t> filledBy(n, 0);
  filledBy[0] = schedule.add(copyStep(scratch(0, 1), Span{BufferId::Input, 0, count}));
  std::uint32_t lastRecv = filledBy[0];
  for (std::size_t distance = 1; distance < n; distance *= 2) {
    const std::size_t blocks = std::min(distance, n - distance);
    const int to = static_cast<int>((static_cast<std::size_t>(rank) + n - distance) % n);
    const int from = static_cast<int>((static_cast<std::size_t>(rank) + distance) % n);
    Step send = sendStep(to, scratch(0, blocks));
    send.dependOn(filledBy[0]);  // the own block, copied in
    send.dependOn(lastRecv);     // and every block received so far
    schedule.add(send);
    // Chained to the previous receive, so "after the last receive" means "after all of them".
    Step recv = recvStep(from, scratch(distance, blocks));
    if (distance > 1) recv.dependOn(lastRecv);
    lastRecv = schedule.add(recv);
    for (std::size_t i = distance; i < distance + blocks; ++i) filledBy[i] = lastRecv;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t owner = (static_cast<std::size_t>(rank) + i) % n;
    Step copy = copyStep(Span{BufferId::Output, owner * count, count}, scratch(i, 1));
    copy.dependOn(filledBy[i]);
    schedule.add(copy);
  }
  return schedule;
}

}  // namespace banyan::algorithms
