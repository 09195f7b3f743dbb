// Ring reduce-scatter as a schedule.
//
// Terms
//   block   Input holds `size` blocks of `count` elements; block b is reduced onto rank b.
//   slice   each block is cut into S = ceil(count / sliceCount) near-equal slices of at most
//           sliceCount elements: the unit of every message and every Reduce.
//   step    a ring step: one round in which every rank sends one block (as S slices) to rank
//           + 1 and receives one from rank - 1.
//
// This is the first half of ring allreduce (ring_allreduce.cpp), shifted by one block so that
// rank r ends with block r: at step s (0 <= s < size - 1) rank r sends block (r - s - 1) mod
// size and receives block (r - s - 2) mod size. At step 0 it sends its own Input; every
// received slice is reduced with the rank's Input slice of the same block, and at the next step
// that partial sum is forwarded. At the last step the received block is block r, and the
// Reduce writes Output and is marked finalize.
//
// Cost: size - 1 steps, (size - 1) * count elements sent and reduced per rank: the minimum,
// so this is the reduce-scatter for large blocks; slices overlap the steps (slice j of step
// s + 1 goes out as soon as slice j of step s is reduced).
//
// Scratch: unlike allreduce, Output has room for one block only, so partial sums live in
// scratch slots of one slice: a slice is received into a slot, reduced there (dst is the
// received operand) and forwarded from there. A slot is free again when the forwarding Send has
// completed, and that is the catch: a rank cannot complete its step-0 sends (S of them, from
// Input) until the next rank has posted S receives, so with S or fewer slots every rank waits
// for its successor to free a slot, around the whole ring, and a transport that does not
// buffer sends deadlocks. With S + 1 slots, a receive waits only on a Send of a lower
// position in the ring's order, so the waits cannot close a cycle. That costs one block plus
// one slice of scratch, the same memory a single-slice partial-sum buffer would need.
//
// In place (Output is Input block r): Input block r is read only by the final Reduces, whose
// destination is that very slice (dst == a).
//
// size == 1 is a single Copy out = in (a no-op in place).

#include "algorithms/reduce_scatter.hpp"
#include "algorithms/ring.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace banyan::algorithms {
namespace {
constexpr std::uint32_t kNoStep = 0xffffffffu;
}  // namespace

Schedule ringReduceScatter(int rank, int size, std::size_t count, std::size_t sliceCount) {
  if (size < 1 || rank < 0 || rank >= size || sliceCount == 0) {
    throw std::invalid_argument("ringReduceScatter: need 0 <= rank < size and sliceCount >= 1");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, Span{BufferId::Input, 0, count}));
    return schedule;
  }

  const int next = (rank + 1) % size;
  const int prev = (rank - 1 + size) % size;
  auto blockStart = [&](int shift) { return static_cast<std::size_t>(((rank + shift) % size + size) % size) * count; };
  const std::size_t slices = (count + sliceCount - 1) / sliceCount;
  const std::size_t slotSize = evenPart(count, static_cast<int>(slices), 0).count;
  const std::size_t receives = static_cast<std::size_t>(size - 1) * slices;
  const std::size_t slots = std::min(slices + 1, receives);
  schedule.scratchCount = slots * slotSize;
  schedule.steps.reserve(3 * receives);

  std::vector<std::uint32_t> slotReader(slots, kNoStep);  // the last step that read each slot
  std::size_t nextSlot = 0;
  // Per slice of the block received at the previous step: its slot and the Reduce that wrote it.
  std::vector<std::size_t> heldIn(slices, 0);
  std::vector<std::uint32_t> reducedBy(slices, kNoStep);

  for (int s = 0; s < size - 1; ++s) {
    const std::size_t sendBlock = blockStart(-s - 1);
    const std::size_t recvBlock = blockStart(-s - 2);
    const bool last = s == size - 2;
    for (std::size_t j = 0; j < slices; ++j) {
      const ElementRange slice = evenPart(count, static_cast<int>(slices), static_cast<int>(j));
      if (s == 0) {
        schedule.add(sendStep(next, Span{BufferId::Input, sendBlock + slice.offset, slice.count}));
      } else {
        Step send = sendStep(next, Span{BufferId::Scratch, heldIn[j] * slotSize, slice.count});
        send.dependOn(reducedBy[j]);
        slotReader[heldIn[j]] = schedule.add(send);
      }

      const std::size_t slot = nextSlot;
      nextSlot = (nextSlot + 1) % slots;
      const Span received{BufferId::Scratch, slot * slotSize, slice.count};
      Step recv = recvStep(prev, received);
      if (slotReader[slot] != kNoStep) recv.dependOn(slotReader[slot]);
      const std::uint32_t recvIndex = schedule.add(recv);

      const Span mine{BufferId::Input, recvBlock + slice.offset, slice.count};
      const Span into = last ? Span{BufferId::Output, slice.offset, slice.count} : received;
      Step reduce = reduceStep(into, mine, received, /*finalize=*/last);
      reduce.dependOn(recvIndex);
      reducedBy[j] = schedule.add(reduce);
      slotReader[slot] = reducedBy[j];  // until the forwarding Send reads it
      heldIn[j] = slot;
    }
  }
  return schedule;
}

}  // namespace banyan::algorithms
