// Rabenseifner allreduce as a schedule.
//
// Terms
//   p2        the largest power of two not above size. Ranks 0 .. p2 - 1 do the work.
//   fold      a rank r >= p2 (an extra) sends its whole Input to rank r - p2, which reduces it
//             into a scratch copy of its own input before the rounds, and receives the finished
//             Output from r - p2 after them (as recursive doubling's fold).
//   block     the vector split into p2 near-equal contiguous blocks, block b = elements
//             [b * count / p2, (b + 1) * count / p2). Some are empty when count < p2; ranges of
//             blocks are contiguous, so a range of blocks is one message (none when empty).
//   round d   a distance, a power of two below p2. Partner = rank ^ d.
//
// Reduce-scatter (recursive halving), d = p2 / 2 .. 1: before round d a rank holds partial
// sums of the 2d blocks aligned around it; it sends the half its partner keeps and reduces the
// half it keeps (containing its own block) with the partner's partial sums of that half, into
// Output. After d = 1, Output block `rank` holds the full reduction (that Reduce finalizes).
// Allgather (recursive doubling), d = 1 .. p2 / 2: a rank sends the d finished blocks it holds
// and receives its partner's d blocks into Output; the blocks received at round d are exactly
// those it gave away at reduce-scatter round d, so the receive waits for that send (the last
// read of those elements) and for nothing else.
//
// Cost: 2 log2(p2) rounds (plus 2 with a fold); each rank sends about 2 (p2 - 1) / p2 of the
// vector, as little as the ring, in logarithmically many latencies: the ring's bytes with
// recursive doubling's round count, for medium messages.
//
// Buffers: round 1 of the reduce-scatter reads the source (Input, or the fold copy in Scratch
// [half, half + count)), later rounds read Output; received halves land in Scratch [0, half),
// half = the largest kept half; a receive there waits for the Reduce that read the previous one.
// In place: round one's Reduce writes only the kept half, at the offsets it reads (the kernels
// allow dst == a); every later write of an element is an allgather receive, which waits for
// the send that last read it.

#include "algorithms/rabenseifner.hpp"

#include <algorithm>
#include <vector>

namespace banyan::algorithms {

namespace {
constexpr std::uint32_t kNone = 0xffffffffu;
}  // namespace

Schedule rabenseifnerAllreduce(int rank, int size, std::size_t count) {
  Schedule schedule;
  if (count == 0) return schedule;
  const Span input{BufferId::Input, 0, count};
  const Span output{BufferId::Output, 0, count};
  if (size == 1) {
    schedule.add(copyStep(output, input));
    return schedule;
  }
  int p2 = 1;
  while (p2 * 2 <= size) p2 *= 2;
  if (rank >= p2) {
    const std::uint32_t sent = schedule.add(sendStep(rank - p2, input));
    Step back = recvStep(rank - p2, output);
    back.dependOn(sent);  // in place, Output is what was sent
    schedule.add(back);
    return schedule;
  }

  auto blockStart = [&](int b) { return static_cast<std::size_t>(b) * count / static_cast<std::size_t>(p2); };
  // Elements of blocks [first, first + n).
  auto range = [&](int first, int n) {
    return std::pair{blockStart(first), blockStart(first + n) - blockStart(first)};
  };

  // The largest half kept in any round: the receive area.
  std::size_t half = 0;
  for (int d = p2 / 2; d >= 1; d /= 2) {
    for (int low = 0; low < p2; low += d) half = std::max(half, range(low, d).second);
  }

  // The source of round one: Input, or the fold copy.
  BufferId source = BufferId::Input;
  std::size_t sourceOffset = 0;
  std::uint32_t sourceReady = kNone;
  const int extra = rank + p2 < size ? rank + p2 : -1;
  if (extra >= 0) {
    const Span fold{BufferId::Scratch, half, count};
    const std::uint32_t received = schedule.add(recvStep(extra, fold));
    Step reduce = reduceStep(fold, input, fold);
    reduce.dependOn(received);
    sourceReady = schedule.add(reduce);
    source = BufferId::Scratch;
    sourceOffset = half;
  }
  schedule.scratchCount = half + (extra >= 0 ? count : 0);

  // Reduce-scatter.
  std::vector<std::uint32_t> gaveAway(static_cast<std::size_t>(p2), kNone);  // by d: the send
  std::uint32_t lastReduce = sourceReady;  // the last step that wrote what the next send reads
  std::uint32_t areaReader = kNone;        // the Reduce that last read the receive area
  bool first = true;
  for (int d = p2 / 2; d >= 1; d /= 2) {
    const int partner = rank ^ d;
    const int low = rank & ~(2 * d - 1);
    const int keepFirst = (rank & d) != 0 ? low + d : low;
    const int giveFirst = (rank & d) != 0 ? low : low + d;
    const auto [keepAt, keepCount] = range(keepFirst, d);
    const auto [giveAt, giveCount] = range(giveFirst, d);
    const bool last = d == 1;
    if (giveCount > 0) {
      Step send = sendStep(
          partner, first ? Span{source, sourceOffset + giveAt, giveCount} : Span{BufferId::Output, giveAt, giveCount});
      if (lastReduce != kNone) send.dependOn(lastReduce);
      gaveAway[static_cast<std::size_t>(d)] = schedule.add(send);
    }
    if (keepCount > 0) {
      const Span area{BufferId::Scratch, 0, keepCount};
      Step recv = recvStep(partner, area);
      if (areaReader != kNone) recv.dependOn(areaReader);
      const std::uint32_t received = schedule.add(recv);
      const Span mine =
          first ? Span{source, sourceOffset + keepAt, keepCount} : Span{BufferId::Output, keepAt, keepCount};
      Step reduce = reduceStep(Span{BufferId::Output, keepAt, keepCount}, mine, area, /*finalize=*/last);
      reduce.dependOn(received);
      if (lastReduce != kNone) reduce.dependOn(lastReduce);
      lastReduce = areaReader = schedule.add(reduce);
    }
    first = false;
  }

  // Allgather. `held` is the last step that wrote or forwarded everything this rank holds.
  std::uint32_t lastSend = kNone;
  std::uint32_t lastRecv = kNone;
  for (int d = 1; d < p2; d *= 2) {
    const int partner = rank ^ d;
    const int mineFirst = rank & ~(d - 1);
    const int theirsFirst = partner & ~(d - 1);
    const auto [mineAt, mineCount] = range(mineFirst, d);
    const auto [theirsAt, theirsCount] = range(theirsFirst, d);
    if (mineCount > 0) {
      Step send = sendStep(partner, Span{BufferId::Output, mineAt, mineCount});
      if (lastReduce != kNone) send.dependOn(lastReduce);  // the finished own block
      if (lastSend != kNone) send.dependOn(lastSend);      // covers the blocks received earlier
      if (lastRecv != kNone) send.dependOn(lastRecv);
      lastSend = schedule.add(send);
    }
    if (theirsCount > 0) {
      Step recv = recvStep(partner, Span{BufferId::Output, theirsAt, theirsCount});
      if (gaveAway[static_cast<std::size_t>(d)] != kNone) recv.dependOn(gaveAway[static_cast<std::size_t>(d)]);
      // In place, round one's Reduce read Input (= Output) here only through the kept half,
      // which this range is not; the fold's Reduce read all of Input.
      if (sourceReady != kNone) recv.dependOn(sourceReady);
      if (lastRecv != kNone) recv.dependOn(lastRecv);  // so one step covers every receive
      lastRecv = schedule.add(recv);
    }
  }
  if (extra >= 0) {
    Step back = sendStep(extra, output);
    if (lastReduce != kNone) back.dependOn(lastReduce);
    if (lastSend != kNone) back.dependOn(lastSend);
    if (lastRecv != kNone) back.dependOn(lastRecv);
    schedule.add(back);
  }
  return schedule;
}

}  // namespace banyan::algorithms
