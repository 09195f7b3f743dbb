// Bruck allgather straight into Output.
//
// Terms
//   rotated   block i of rank r is the block of rank (r + i) mod size; it lives in Output
//             block (r + i) mod size, so a run of rotated blocks is one contiguous range of
//             Output, or two where it wraps past the last block (a "piece" each).
//   round     for d = 1, 2, 4, ... < size, m = min(d, size - d) blocks: send rotated blocks
//             [0, m) to rank r - d, receive rotated blocks [d, d + m) from rank r + d. The
//             sender's rotated [0, m) are exactly the receiver's rotated [d, d + m), and both
//             wrap at the same block (the sender's rotated j is the receiver's d + j, the same
//             rank), so they cut the run into the same pieces. After round d rank r holds
//             rotated [0, min(2d, size)).
//
// Bruck (bruck.cpp) receives into a rotated Scratch and copies every block out at the end: a
// local pass over the whole output and size * count elements of scratch. Here nothing is
// rotated back, so neither is needed; a wrapping round sends two messages instead of one.
//
// Dependencies: the first round sends Input; later sends read the own block (the copy) and
// every block received so far, so they depend on the copy and the last receive, and receives
// are chained so that the last one stands for all. Receives write blocks nothing has touched.

#include "algorithms/bruck_direct.hpp"

#include <algorithm>

namespace banyan::algorithms {

std::vector<BruckRound> bruckRounds(std::size_t size) {
  std::vector<BruckRound> rounds;
  for (std::size_t d = 1; d < size; d *= 2) rounds.push_back({d, std::min(d, size - d)});
  return rounds;
}

namespace {

// Output spans of the blocks of ranks first, first + 1, ..., first + blocks - 1 (mod size):
// one span, or two where the run passes the last rank.
std::vector<Span> wrappedSpans(std::size_t first, std::size_t blocks, std::size_t size, std::size_t count) {
  const std::size_t head = std::min(blocks, size - first);
  std::vector<Span> spans{Span{BufferId::Output, first * count, head * count}};
  if (head < blocks) spans.push_back(Span{BufferId::Output, 0, (blocks - head) * count});
  return spans;
}

}  // namespace

Schedule bruckDirectAllgather(int rank, int size, std::size_t count) {
  Schedule schedule;
  if (count == 0) return schedule;
  const auto n = static_cast<std::size_t>(size);
  const auto r = static_cast<std::size_t>(rank);
  const std::uint32_t copied =
      schedule.add(copyStep(Span{BufferId::Output, r * count, count}, Span{BufferId::Input, 0, count}));
  std::uint32_t lastRecv = copied;
  for (const BruckRound& round : bruckRounds(n)) {
    const int to = static_cast<int>((r + n - round.distance) % n);
    const int from = static_cast<int>((r + round.distance) % n);
    if (round.distance == 1) {
      schedule.add(sendStep(to, Span{BufferId::Input, 0, count}));  // m = 1: the own block
    } else {
      for (const Span& piece : wrappedSpans(r, round.blocks, n, count)) {
        Step send = sendStep(to, piece);
        send.dependOn(copied);
        send.dependOn(lastRecv);
        schedule.add(send);
      }
    }
    for (const Span& piece : wrappedSpans((r + round.distance) % n, round.blocks, n, count)) {
      Step recv = recvStep(from, piece);
      if (lastRecv != copied) recv.dependOn(lastRecv);
      lastRecv = schedule.add(recv);
    }
  }
  return schedule;
}

}  // namespace banyan::algorithms
