// Ring allgather as a schedule.
//
// Terms
//   block   Output holds `size` blocks of `count` elements; block b (elements
//           [b * count, (b + 1) * count)) ends up holding rank b's Input. Blocks play the part
//           that chunks play in ring allreduce (ring_allreduce.cpp), but they are never empty
//           unless count is 0, and they all have the same length.
//   slice   each block is cut into ceil(count / sliceCount) near-equal slices of at most
//           sliceCount elements: the unit of every message.
//   step    a ring step: one round in which every rank sends one block to its next rank and
//           receives one block from its previous rank (made of several schedule Steps).
//
// The rank copies its Input into its own block of Output, slice by slice (out-of-place only:
// in place, Input already is Output block `rank` and the executor skips a Copy whose source
// and destination are the same memory). The copies come last in the schedule but depend on
// nothing, so they run while the messages travel. For s in [0, size - 1), rank r sends block
// (r - s) mod size to rank r + 1 and receives block (r - s - 1) mod size from rank r - 1 into
// Output. At step 0 the rank sends its own block from Input, so the sends do not wait for the
// Copy and the Copy is never on the critical path; at step s > 0 it forwards the block it
// received at step s - 1, slice by slice: slice j of the send at step s depends only on slice
// j of the receive at step s - 1, so consecutive ring steps overlap.
//
// No receive ever lands in block `rank`, and nothing reads Output block `rank` (the copy is
// the only access), so the Copy needs no ordering with the rest; in place, Input is read only
// by the step-0 sends and written by nothing. No scratch is used.

#include "algorithms/ring.hpp"

#include <stdexcept>
#include <vector>

namespace banyan::algorithms {

Schedule ringAllgather(int rank, int size, std::size_t count, std::size_t sliceCount) {
  if (size < 1 || rank < 0 || rank >= size || sliceCount == 0) {
    throw std::invalid_argument("ringAllgather: need 0 <= rank < size and sliceCount >= 1");
  }
  Schedule schedule;
  if (count == 0) return schedule;

  const auto own = static_cast<std::size_t>(rank);
  const std::size_t slices = (count + sliceCount - 1) / sliceCount;
  // The own-block copy goes slice by slice, so the executor can interleave it with the
  // messages (it posts sends and receives before it runs local steps) instead of stalling
  // every socket behind one long memcpy.
  auto addCopies = [&] {
    for (std::size_t j = 0; j < slices; ++j) {
      const ElementRange slice = evenPart(count, static_cast<int>(slices), static_cast<int>(j));
      schedule.add(copyStep(Span{BufferId::Output, own * count + slice.offset, slice.count},
                            Span{BufferId::Input, slice.offset, slice.count}));
    }
  };
  if (size == 1) {
    addCopies();
    return schedule;
  }

  const int next = (rank + 1) % size;
  const int prev = (rank - 1 + size) % size;
  schedule.steps.reserve(slices + 2 * slices * static_cast<std::size_t>(size - 1));

  std::vector<std::uint32_t> received(slices, 0);
  for (int s = 0; s < size - 1; ++s) {
    const auto sendBlock = static_cast<std::size_t>(((rank - s) % size + size) % size);
    const auto recvBlock = static_cast<std::size_t>(((rank - s - 1) % size + size) % size);
    for (std::size_t j = 0; j < slices; ++j) {
      const ElementRange slice = evenPart(count, static_cast<int>(slices), static_cast<int>(j));
      if (s == 0) {
        schedule.add(sendStep(next, Span{BufferId::Input, slice.offset, slice.count}));
      } else {
        Step send = sendStep(next, Span{BufferId::Output, sendBlock * count + slice.offset, slice.count});
        send.dependOn(received[j]);
        schedule.add(send);
      }
      received[j] = schedule.add(recvStep(prev, Span{BufferId::Output, recvBlock * count + slice.offset, slice.count}));
    }
  }
  addCopies();
  return schedule;
}

}  // namespace banyan::algorithms
