// Recursive-halving reduce-scatter as a schedule.
//
// Terms
//   p2        the largest power of two not above size; rem = size - p2.
//   fold      ranks below 2 * rem pair up: even rank 2k sends its whole Input to rank 2k + 1,
//             which reduces it into a scratch copy and takes part in the rounds for both;
//             the even rank sits the rounds out and at the end receives its finished block
//             from rank 2k + 1. The p2 ranks left are numbered v = 0 .. p2 - 1: rank 2k + 1
//             is v = k (k < rem), rank r >= 2 * rem is v = r - rem.
//   v-block   what rank v is responsible for: blocks 2v and 2v + 1 when v < rem, else block
//             v + rem. V-blocks are contiguous and in order, so any run of v-blocks is one
//             contiguous range of elements, and one message.
//   round     for d = p2 / 2, p2 / 4, ..., 1: rank v and partner v ^ d split the run of 2d
//             v-blocks they both hold partial sums of; each sends the partner's half and
//             reduces the half it keeps with the partner's partial sums of it. After the last
//             round, rank v holds the full reduction of its v-block.
//
// Cost: log2(p2) rounds (plus 2 with a fold); the data halves every round, so each rank sends
// about (p2 - 1) / p2 of the input in all (the whole input once more on folding ranks): as
// little as the ring for powers of two, in log2 instead of size - 1 latencies. The ring still
// wins for large blocks on other rank counts, and it pipelines.
//
// Buffers (Scratch, in this order): the fold copy (size * count, folding odd ranks only); the
// accumulator, which holds the half kept in the first round, indexed by element from the start
// of that half (later halves are inside it); the receive area for rounds after the first, as
// large as the largest half received there. The first round receives straight into the
// accumulator and reduces there (dst is the received operand). The last round reduces into
// Output (finalize); a folding rank also finalizes its partner's block in the accumulator and
// sends it back from there.
//
// Dependencies: a round's Send reads the accumulator half that the previous round's Reduce
// wrote (or Input / the fold copy in the first round); its Reduce writes the other half, so
// Sends and Reduces of one round never touch the same elements. A receive into the receive
// area waits for the Reduce that last read it. In place, Input block `rank` (= Output) is
// read only by the first round's Reduce or the fold, which every last-round Reduce follows.

#include "algorithms/reduce_scatter.hpp"

#include <algorithm>

namespace banyan::algorithms {
namespace {
constexpr std::uint32_t kNoStep = 0xffffffffu;
}  // namespace

Schedule recursiveHalvingReduceScatter(int rank, int size, std::size_t count) {
  Schedule schedule;
  if (count == 0) return schedule;
  const auto n = static_cast<std::size_t>(size);
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, Span{BufferId::Input, 0, count}));
    return schedule;
  }
  int p2 = 1;
  while (p2 * 2 <= size) p2 *= 2;
  const int rem = size - p2;

  if (rank < 2 * rem && rank % 2 == 0) {
    // Folded away: hand everything to rank + 1, get the finished block back.
    const std::uint32_t sent = schedule.add(sendStep(rank + 1, Span{BufferId::Input, 0, n * count}));
    Step back = recvStep(rank + 1, Span{BufferId::Output, 0, count});
    back.dependOn(sent);  // in place, Output is part of what was sent
    schedule.add(back);
    return schedule;
  }

  const bool folding = rank < 2 * rem;
  const int v = folding ? rank / 2 : rank - rem;
  auto firstBlock = [rem](int vBlock) { return static_cast<std::size_t>(vBlock < rem ? 2 * vBlock : vBlock + rem); };
  auto oldRank = [rem](int vRank) { return vRank < rem ? 2 * vRank + 1 : vRank + rem; };
  struct Range {
    std::size_t offset, count;  // elements
  };
  auto elementsOf = [&](int vFirst, int vEnd) {
    return Range{firstBlock(vFirst) * count, (firstBlock(vEnd) - firstBlock(vFirst)) * count};
  };

  // The source of the first round: Input, or the fold copy.
  BufferId source = BufferId::Input;
  std::uint32_t sourceReady = kNoStep;
  std::size_t foldCount = 0;
  if (folding) {
    foldCount = n * count;
    const Span fold{BufferId::Scratch, 0, foldCount};
    const std::uint32_t received = schedule.add(recvStep(rank - 1, fold));
    Step reduce = reduceStep(fold, Span{BufferId::Input, 0, foldCount}, fold);
    reduce.dependOn(received);
    sourceReady = schedule.add(reduce);
    source = BufferId::Scratch;
  }
  auto fromSource = [&](const Range& range) { return Span{source, range.offset, range.count}; };

  std::size_t accStart = 0;  // first element the accumulator holds
  std::size_t accCount = 0;
  std::size_t receiveMax = 0;
  auto acc = [&](const Range& range) {
    return Span{BufferId::Scratch, foldCount + range.offset - accStart, range.count};
  };
  auto receiveArea = [&](std::size_t elements) { return Span{BufferId::Scratch, foldCount + accCount, elements}; };

  std::uint32_t lastReduce = sourceReady;
  std::uint32_t receiveAreaReader = kNoStep;
  std::uint32_t partnerBlockReady = kNoStep;  // folding: the Reduce that finishes block rank - 1
  for (int d = p2 / 2; d >= 1; d /= 2) {
    const bool first = d == p2 / 2;
    const bool last = d == 1;
    const int low = v & ~(2 * d - 1);
    const int keepFirst = (v & d) != 0 ? low + d : low;
    const int giveFirst = (v & d) != 0 ? low : low + d;
    const Range keep = elementsOf(keepFirst, keepFirst + d);
    const Range give = elementsOf(giveFirst, giveFirst + d);
    const int partner = oldRank(v ^ d);
    if (first) {
      accStart = keep.offset;
      accCount = keep.count;
    }

    Step send = sendStep(partner, first ? fromSource(give) : acc(give));
    if (lastReduce != kNoStep) send.dependOn(lastReduce);
    schedule.add(send);

    const Span received = first ? acc(keep) : receiveArea(keep.count);
    if (!first) receiveMax = std::max(receiveMax, keep.count);
    Step recv = recvStep(partner, received);
    if (!first && receiveAreaReader != kNoStep) recv.dependOn(receiveAreaReader);
    const std::uint32_t recvIndex = schedule.add(recv);

    // Reduces keep (possibly in two parts when the last round finishes two blocks).
    auto addReduce = [&](const Range& part, const Span& into) {
      const std::size_t at = part.offset - keep.offset;
      const Span mine = first ? fromSource(part) : acc(part);
      Step reduce = reduceStep(into, mine, Span{received.buffer, received.offset + at, part.count}, /*finalize=*/last);
      reduce.dependOn(recvIndex);
      if (lastReduce != kNoStep) reduce.dependOn(lastReduce);
      return schedule.add(reduce);
    };
    if (!last) {
      lastReduce = addReduce(keep, acc(keep));
    } else {
      const Range own{static_cast<std::size_t>(rank) * count, count};
      if (folding) {
        const Range partnerBlock{own.offset - count, count};
        // In the accumulator; when this is also the first round, that is where it was received.
        partnerBlockReady = addReduce(partnerBlock, acc(partnerBlock));
      }
      lastReduce = addReduce(own, Span{BufferId::Output, 0, count});
    }
    if (!first) receiveAreaReader = lastReduce;
  }
  if (folding) {
    Step back = sendStep(rank - 1, acc(Range{static_cast<std::size_t>(rank - 1) * count, count}));
    back.dependOn(partnerBlockReady);
    schedule.add(back);
  }
  schedule.scratchCount = foldCount + accCount + receiveMax;
  return schedule;
}

}  // namespace banyan::algorithms
