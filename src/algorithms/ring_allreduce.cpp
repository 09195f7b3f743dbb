// Ring allreduce as a schedule.
//
// Terms
//   chunk   the element count is split into `size` contiguous chunks as evenly as possible
//           (evenPart: the first count % size chunks have one element more; when
//           count < size some chunks are empty and produce no steps at all).
//   slice   each chunk is cut into ceil(chunk / sliceCount) near-equal slices of at most
//           sliceCount elements. A slice is the unit of every message and every reduction.
//           Chunk c has the same slices on every rank, so messages match across the ring.
//   step    a ring step: one round in which every rank sends one chunk to its next rank and
//           receives one chunk from its previous rank. (Not to be confused with a schedule
//           Step, one entry of the schedule; ring steps are made of many of those.)
//
// The algorithm is reduce-scatter followed by allgather, each taking size - 1 ring steps.
//
// Reduce-scatter: at step s (0 <= s < size - 1) rank r sends chunk (r - s) mod size to its
// next rank and receives chunk (r - s - 1) mod size from its previous rank. The received data
// lands in a scratch slot and is reduced with this rank's own input into Output:
//     out[c] = in[c] op scratch
// Every rank reduces every chunk except its own starting chunk r exactly once, so that single
// Reduce is both the first and the last for the chunk on this rank. At step s + 1 the rank
// forwards the chunk it reduced at step s, now read from Output. After the last step, rank r
// holds the full reduction of chunk (r + 1) mod size; that Reduce is marked finalize (the
// executor divides there for avg).
//
// Allgather: at step s rank r sends chunk (r + 1 - s) mod size (at s = 0 the chunk it has just
// finalized, later the chunk it received at step s - 1) and receives chunk (r - s) mod size
// straight into Output. Nothing is reduced, so no scratch is needed.
//
// Pipelining: dependencies are per slice, never per ring step. Slice j of the send at step
// s + 1 waits only for slice j of the Reduce at step s, so while slice j is being reduced,
// slice j + 1 is still on the wire and slice j - 1 is already travelling to the next rank.
//
// Scratch: received slices go round-robin into kRingScratchSlots slots of at most sliceCount
// elements. A Recv into a slot depends on the Reduce that consumed the slot's previous
// content, so scratch stays at slots * sliceCount elements whatever the count. Eight slots let
// a rank keep several slices in flight from its previous rank while it reduces (enough to
// cover the latency of one slice on a link whose bandwidth-delay product is a few slices) at
// a cost of 8 slices of memory; fewer slots stall the wire behind the reduction, more only
// add memory once the link is full.
//
// In place (Input and Output are the same memory): every read of Input chunk c happens no
// later than the first write of Output chunk c. For c != r the only read of in[c] is the
// Reduce that writes out[c] at the same offsets (element-wise, dst == a, which the kernels
// allow). For chunk r, in[r] is read by the sends of reduce-scatter step 0 and first written
// by the receive of allgather step 0, which depends on those sends. More generally, the
// allgather receive of chunk c at step s depends on the reduce-scatter send of the same chunk
// and slice at step s, the last read of that slice's old content on this rank.
//
// size == 1 is a single Copy out = in (skipped by the executor when in place).

#include "algorithms/ring.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace banyan::algorithms {

namespace {

constexpr std::uint32_t kNoStep = 0xffffffffu;

Span span(BufferId buffer, std::size_t offset, std::size_t count) { return Span{buffer, offset, count}; }

std::size_t sliceCountOf(std::size_t chunkCount, std::size_t sliceCount) {
  return (chunkCount + sliceCount - 1) / sliceCount;
}

// Slice j of a chunk, in absolute element offsets.
ElementRange sliceOf(const ElementRange& chunk, std::size_t slices, std::size_t j) {
  const ElementRange part = evenPart(chunk.count, static_cast<int>(slices), static_cast<int>(j));
  return ElementRange{chunk.offset + part.offset, part.count};
}

}  // namespace

ElementRange evenPart(std::size_t count, int parts, int index) {
  const auto n = static_cast<std::size_t>(parts);
  const auto i = static_cast<std::size_t>(index);
  const std::size_t base = count / n;
  const std::size_t extra = count % n;
  return ElementRange{i * base + std::min(i, extra), base + (i < extra ? 1 : 0)};
}

Schedule ringAllreduce(int rank, int size, std::size_t count, std::size_t sliceCount) {
  if (size < 1 || rank < 0 || rank >= size || sliceCount == 0) {
    throw std::invalid_argument("ringAllreduce: need 0 <= rank < size and sliceCount >= 1");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  if (size == 1) {
    schedule.add(copyStep(span(BufferId::Output, 0, count), span(BufferId::Input, 0, count)));
    return schedule;
  }

  const int next = (rank + 1) % size;
  const int prev = (rank - 1 + size) % size;
  auto chunkAt = [&](int shift) {
    const int c = ((rank + shift) % size + size) % size;
    return evenPart(count, size, c);
  };
  auto slicesOf = [&](const ElementRange& chunk) { return sliceCountOf(chunk.count, sliceCount); };

  // Scratch: slots of the largest slice that can occur, as many as there are receives (at most
  // kRingScratchSlots).
  const std::size_t largestChunk = evenPart(count, size, 0).count;
  const std::size_t slotSize = std::min(sliceCount, largestChunk);
  std::size_t receives = 0;
  for (int s = 0; s < size - 1; ++s) receives += slicesOf(chunkAt(-s - 1));
  const std::size_t slots = std::min(kRingScratchSlots, receives);
  schedule.scratchCount = slots * slotSize;
  schedule.steps.reserve(5 * receives);

  std::vector<std::uint32_t> slotReader(slots, kNoStep);  // Reduce that last read each slot
  std::size_t nextSlot = 0;

  // reduced[j]: the Reduce of slice j of the chunk received at the previous ring step.
  std::vector<std::uint32_t> reduced;
  // rsSends[s][j]: the send of slice j at reduce-scatter step s (last read of that slice).
  std::vector<std::vector<std::uint32_t>> rsSends(static_cast<std::size_t>(size - 1));

  // Reduce-scatter.
  for (int s = 0; s < size - 1; ++s) {
    const ElementRange sendChunk = chunkAt(-s);
    const ElementRange recvChunk = chunkAt(-s - 1);
    const std::size_t sendSlices = slicesOf(sendChunk);
    const std::size_t recvSlices = slicesOf(recvChunk);
    const BufferId sendFrom = s == 0 ? BufferId::Input : BufferId::Output;
    std::vector<std::uint32_t> nowReduced(recvSlices, kNoStep);
    auto& sends = rsSends[static_cast<std::size_t>(s)];
    sends.assign(sendSlices, kNoStep);

    for (std::size_t j = 0; j < std::max(sendSlices, recvSlices); ++j) {
      if (j < sendSlices) {
        const ElementRange slice = sliceOf(sendChunk, sendSlices, j);
        Step send = sendStep(next, span(sendFrom, slice.offset, slice.count));
        if (s > 0) send.dependOn(reduced[j]);
        sends[j] = schedule.add(send);
      }
      if (j < recvSlices) {
        const ElementRange slice = sliceOf(recvChunk, recvSlices, j);
        const std::size_t slot = nextSlot;
        nextSlot = (nextSlot + 1) % slots;
        const Span scratch = span(BufferId::Scratch, slot * slotSize, slice.count);
        Step recv = recvStep(prev, scratch);
        if (slotReader[slot] != kNoStep) recv.dependOn(slotReader[slot]);
        const std::uint32_t recvIndex = schedule.add(recv);

        Step reduce = reduceStep(span(BufferId::Output, slice.offset, slice.count),
                                 span(BufferId::Input, slice.offset, slice.count), scratch,
                                 /*finalize=*/s == size - 2);
        reduce.dependOn(recvIndex);
        nowReduced[j] = schedule.add(reduce);
        slotReader[slot] = nowReduced[j];
      }
    }
    reduced = std::move(nowReduced);
  }

  // Allgather. `reduced` now holds the finalizing Reduces of chunk rank + 1; afterwards
  // `received` holds the receives of the previous allgather step.
  std::vector<std::uint32_t> received = std::move(reduced);
  for (int s = 0; s < size - 1; ++s) {
    const ElementRange sendChunk = chunkAt(1 - s);
    const ElementRange recvChunk = chunkAt(-s);
    const std::size_t sendSlices = slicesOf(sendChunk);
    const std::size_t recvSlices = slicesOf(recvChunk);
    const auto& overwritten = rsSends[static_cast<std::size_t>(s)];
    std::vector<std::uint32_t> nowReceived(recvSlices, kNoStep);

    for (std::size_t j = 0; j < std::max(sendSlices, recvSlices); ++j) {
      if (j < sendSlices) {
        const ElementRange slice = sliceOf(sendChunk, sendSlices, j);
        Step send = sendStep(next, span(BufferId::Output, slice.offset, slice.count));
        send.dependOn(received[j]);
        schedule.add(send);
      }
      if (j < recvSlices) {
        const ElementRange slice = sliceOf(recvChunk, recvSlices, j);
        Step recv = recvStep(prev, span(BufferId::Output, slice.offset, slice.count));
        recv.dependOn(overwritten[j]);
        nowReceived[j] = schedule.add(recv);
      }
    }
    received = std::move(nowReceived);
  }
  return schedule;
}

}  // namespace banyan::algorithms
