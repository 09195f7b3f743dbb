// Pipelined chain broadcast as a schedule.
//
// The ranks form a chain in relative order, root -> root + 1 -> ... -> root + size - 1 (mod
// size). The buffer is cut into S = ceil(count / sliceCount) near-equal slices; every rank
// receives slice j from its predecessor into Output and forwards it to its successor as soon as
// it has arrived, so slice j + 1 is on the first link while slice j is on the second.
//
// Cost: (size - 1) + (S - 1) slice transfers end to end. Each link carries the buffer once, so
// for S much larger than size the time approaches that of sending the buffer once: the
// broadcast for large messages. The chain's fill time, size - 1 slice latencies, is why the
// binomial tree is used for small ones.
//
// The root sends from Input and copies Input to Output slice by slice at the end (the copies
// depend on nothing; in place they are no-ops), like ring allgather's own block.

#include "algorithms/broadcast.hpp"
#include "algorithms/ring.hpp"

#include <stdexcept>

namespace banyan::algorithms {

Schedule chainBroadcast(int rank, int size, int root, std::size_t count, std::size_t sliceCount) {
  if (size < 1 || rank < 0 || rank >= size || root < 0 || root >= size || sliceCount == 0) {
    throw std::invalid_argument("chainBroadcast: need 0 <= rank, root < size and sliceCount >= 1");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  const int v = ((rank - root) % size + size) % size;
  const int next = v + 1 < size ? (rank + 1) % size : -1;
  const int prev = (rank - 1 + size) % size;
  const std::size_t slices = (count + sliceCount - 1) / sliceCount;
  auto slice = [&](std::size_t j) { return evenPart(count, static_cast<int>(slices), static_cast<int>(j)); };

  if (v == 0) {
    for (std::size_t j = 0; j < slices && next >= 0; ++j) {
      schedule.add(sendStep(next, Span{BufferId::Input, slice(j).offset, slice(j).count}));
    }
    for (std::size_t j = 0; j < slices; ++j) {
      const Span part{BufferId::Output, slice(j).offset, slice(j).count};
      schedule.add(copyStep(part, Span{BufferId::Input, part.offset, part.count}));
    }
    return schedule;
  }
  for (std::size_t j = 0; j < slices; ++j) {
    const Span part{BufferId::Output, slice(j).offset, slice(j).count};
    const std::uint32_t received = schedule.add(recvStep(prev, part));
    if (next >= 0) {
      Step send = sendStep(next, part);
      send.dependOn(received);
      schedule.add(send);
    }
  }
  return schedule;
}

}  // namespace banyan::algorithms
