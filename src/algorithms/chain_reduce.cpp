// Pipelined chain reduce as a schedule.
//
// The ranks form a chain in relative order that ends at the root: root + size - 1 -> ... ->
// root + 1 -> root (mod size). The buffer is cut into S = ceil(count / sliceCount) slices.
// The first rank of the chain sends its Input slices; every other rank receives slice j into a
// Scratch slot, reduces its Input slice into it (dst is the received operand) and forwards the
// partial sum from the slot; the root reduces into Output instead, and that Reduce completes
// the element (finalize).
//
// Cost: (size - 1) + (S - 1) slice steps end to end; every link carries the buffer once and
// every rank reduces it once, both overlapped by the pipeline, so for S much larger than size
// the time approaches one transfer of the buffer. Reduce-scatter + gather would send 2 (size -
// 1) / size of the buffer per rank in 2 (size - 1) latency-bound steps, and its root still
// receives (size - 1) / size of the buffer after the reduce-scatter has finished: it only
// wins when links are half-duplex or size is so large that the chain never fills, neither of
// which is the case this runtime is built for (a few to tens of ranks on full-duplex links).
//
// Scratch: up to kRingScratchSlots slots of one slice, round-robin. A slot is free again when
// the Send that forwards it has completed (on the root: when its Reduce has), so a receive
// waits on the next rank down the chain. That cannot deadlock, as waits only point towards the
// root, which frees its slots by itself; eight slots keep several slices in flight per link
// (see kRingScratchSlots).

#include "algorithms/ring.hpp"
#include "algorithms/rooted_reduce.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace banyan::algorithms {
namespace {
constexpr std::uint32_t kNoStep = 0xffffffffu;
}  // namespace

Schedule chainReduce(int rank, int size, int root, std::size_t count, std::size_t sliceCount) {
  if (size < 1 || rank < 0 || rank >= size || root < 0 || root >= size || sliceCount == 0) {
    throw std::invalid_argument("chainReduce: need 0 <= rank, root < size and sliceCount >= 1");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, Span{BufferId::Input, 0, count}));
    return schedule;
  }
  const int v = ((rank - root) % size + size) % size;
  const int toward = (rank - 1 + size) % size;  // relative rank v - 1
  const int from = (rank + 1) % size;           // relative rank v + 1
  const std::size_t slices = (count + sliceCount - 1) / sliceCount;
  auto slice = [&](std::size_t j) { return evenPart(count, static_cast<int>(slices), static_cast<int>(j)); };

  if (v == size - 1) {
    for (std::size_t j = 0; j < slices; ++j) {
      schedule.add(sendStep(toward, Span{BufferId::Input, slice(j).offset, slice(j).count}));
    }
    return schedule;
  }
  const std::size_t slotSize = slice(0).count;
  const std::size_t slots = std::min(kRingScratchSlots, slices);
  schedule.scratchCount = slots * slotSize;
  std::vector<std::uint32_t> slotReader(slots, kNoStep);
  for (std::size_t j = 0; j < slices; ++j) {
    const ElementRange part = slice(j);
    const std::size_t slot = j % slots;
    const Span received{BufferId::Scratch, slot * slotSize, part.count};
    Step recv = recvStep(from, received);
    if (slotReader[slot] != kNoStep) recv.dependOn(slotReader[slot]);
    const std::uint32_t recvIndex = schedule.add(recv);
    const Span mine{BufferId::Input, part.offset, part.count};
    Step reduce = v == 0 ? reduceStep(Span{BufferId::Output, part.offset, part.count}, mine, received, true)
                         : reduceStep(received, mine, received);
    reduce.dependOn(recvIndex);
    slotReader[slot] = schedule.add(reduce);
    if (v != 0) {
      Step send = sendStep(toward, received);
      send.dependOn(slotReader[slot]);
      slotReader[slot] = schedule.add(send);
    }
  }
  return schedule;
}

}  // namespace banyan::algorithms
