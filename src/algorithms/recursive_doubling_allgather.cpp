// Recursive-doubling allgather as a schedule (rank counts that are powers of two).
//
// Terms
//   group     before the round at distance d, rank r holds the d blocks of its group: the
//             aligned run of ranks [g, g + d) with g = r with its low log2(d) bits cleared.
//   round     for d = 1, 2, 4, ... < size: exchange whole groups with partner r ^ d. Send
//             Output blocks [g, g + d), receive the partner's group into Output blocks
//             [g', g' + d) with g' = g ^ d. After the round the group has doubled.
//
// log2(size) message latencies against the ring's size - 1, and the same bytes per rank
// (each rank receives size - 1 blocks in all), so it wins wherever latency still counts. The
// first round sends straight from Input, so it does not wait for the own-block copy.
//
// Dependencies: a round's send reads the own block (the copy) and every block received so far
// (the previous receive, chained to the ones before). Receives write blocks nothing has
// touched yet.

#include "algorithms/recursive_doubling.hpp"

namespace banyan::algorithms {

Schedule recursiveDoublingAllgather(int rank, int size, std::size_t count) {
  Schedule schedule;
  if (count == 0) return schedule;
  const auto r = static_cast<std::size_t>(rank);
  const std::uint32_t copied =
      schedule.add(copyStep(Span{BufferId::Output, r * count, count}, Span{BufferId::Input, 0, count}));
  std::uint32_t lastRecv = copied;
  for (std::size_t distance = 1; distance < static_cast<std::size_t>(size); distance *= 2) {
    const std::size_t group = r & ~(distance - 1);
    const std::size_t partnerGroup = group ^ distance;
    const int partner = static_cast<int>(r ^ distance);
    Step send = distance == 1 ? sendStep(partner, Span{BufferId::Input, 0, count})
                              : sendStep(partner, Span{BufferId::Output, group * count, distance * count});
    if (distance > 1) {
      send.dependOn(copied);
      send.dependOn(lastRecv);
    }
    schedule.add(send);
    Step recv = recvStep(partner, Span{BufferId::Output, partnerGroup * count, distance * count});
    if (distance > 1) recv.dependOn(lastRecv);
    lastRecv = schedule.add(recv);
  }
  return schedule;
}

}  // namespace banyan::algorithms
