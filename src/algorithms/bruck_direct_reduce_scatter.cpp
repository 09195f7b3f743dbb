// Bruck reduce-scatter: bruck_direct_allgather.cpp's rounds run backwards, partial sums
// travelling where the allgather's blocks came from.
//
// Terms
//   rotated   block i of rank r is block (r + i) mod size of the input; rank r ends up with the
//             reduction of its rotated block 0.
//   round     for d = ..., 4, 2, 1 (the allgather's distances, largest first), m = min(d,
//             size - d) blocks: send the partial sums of rotated blocks [d, d + m) to rank
//             r + d, receive rank r - d's partial sums of its rotated [d, d + m), which are this
//             rank's rotated [0, m), and add them in. A block is sent once, in the round whose
//             distance reaches it, after every round that adds into it: the allgather's tree
//             of each block, leaves first.
//   held      the partial sums this rank has added into so far: always rotated [0, W), W the
//             largest m of the rounds done, in the accumulator (Scratch, indexed by rotated
//             block). Blocks from W on are still the rank's own Input block.
//   piece     a run of blocks one message carries. A round's run is cut where it passes from
//             held to Input blocks (at rotated W, the same on every rank) and where the Input
//             blocks wrap past the last rank (at rotated size - r): the sender's cuts, which
//             the receiver computes for its sender.
//
// Buffers (Scratch): the accumulator (the largest m blocks), then a receive area for pieces
// that land on held blocks (the largest m of the rounds after the first). Pieces that land on
// blocks not yet held are received straight into the accumulator and reduced there. The last
// round reduces into Output (finalize). In place, Input's rotated block 0 (= Output) is only
// read by a reduce that the final one follows, and never sent.
//
// Dependencies: reduces are chained, so the last one stands for every earlier one: sends
// (of held blocks, and of Input blocks so that they do not take the link from the round before)
// and receives into the receive area (which the previous round's reduces read) depend on it. Receives into the
// accumulator write blocks nothing has touched.

#include "algorithms/bruck_direct.hpp"

#include <algorithm>

namespace banyan::algorithms {
namespace {

constexpr std::uint32_t kNoStep = 0xffffffffu;

// The cuts of a run of m blocks that starts at rotated block `first` of a rank whose Input
// wraps at rotated block `wrap`, with blocks below `held` in the accumulator: offsets in
// (0, m), sorted, with 0 and m around them.
std::vector<std::size_t> cutsOf(std::size_t first, std::size_t m, std::size_t held, std::size_t wrap) {
  std::vector<std::size_t> cuts{0, m};
  for (const std::size_t at : {held, wrap}) {
    if (at > first && at < first + m) cuts.push_back(at - first);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

}  // namespace

Schedule bruckDirectReduceScatter(int rank, int size, std::size_t count) {
  Schedule schedule;
  if (count == 0) return schedule;
  const auto n = static_cast<std::size_t>(size);
  const auto r = static_cast<std::size_t>(rank);
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, Span{BufferId::Input, 0, count}));
    return schedule;
  }
  std::vector<BruckRound> rounds = bruckRounds(n);
  std::reverse(rounds.begin(), rounds.end());
  std::size_t accBlocks = 0;
  for (const BruckRound& round : rounds) accBlocks = std::max(accBlocks, round.blocks);
  const std::size_t receiveAt = accBlocks * count;  // where the receive area starts in Scratch
  std::size_t receiveBlocks = 0;

  // A rank's rotated block i, as it stands before a round with `held` blocks held.
  auto blockOf = [&](std::size_t owner, std::size_t i, std::size_t blocks, std::size_t held) {
    if (i < held) return Span{BufferId::Scratch, i * count, blocks * count};
    return Span{BufferId::Input, (owner + i) % n * count, blocks * count};
  };

  std::size_t held = 0;
  std::uint32_t lastReduce = kNoStep;
  for (const BruckRound& round : rounds) {
    const std::size_t d = round.distance, m = round.blocks;
    const bool last = d == 1;

    const std::vector<std::size_t> sendCuts = cutsOf(d, m, held, n - r);
    for (std::size_t k = 0; k + 1 < sendCuts.size(); ++k) {
      Step send =
          sendStep(static_cast<int>((r + d) % n), blockOf(r, d + sendCuts[k], sendCuts[k + 1] - sendCuts[k], held));
      // After the previous round, also for Input blocks: sent early, they would share the
      // rank's link with the earlier rounds' messages, which the next reduce waits for.
      if (lastReduce != kNoStep) send.dependOn(lastReduce);
      schedule.add(send);
    }

    // The sender's pieces, received onto this rank's rotated [0, m).
    const std::size_t sender = (r + n - d) % n;
    const std::vector<std::size_t> recvCuts = cutsOf(d, m, held, n - sender);
    struct Received {
      std::size_t from, to;
      Span span;
      std::uint32_t step;
    };
    std::vector<Received> received;
    for (std::size_t k = 0; k + 1 < recvCuts.size(); ++k) {
      const std::size_t a = recvCuts[k], b = recvCuts[k + 1];
      const bool intoAcc = a >= held;
      const Span into = intoAcc ? Span{BufferId::Scratch, a * count, (b - a) * count}
                                : Span{BufferId::Scratch, receiveAt + a * count, (b - a) * count};
      if (!intoAcc) receiveBlocks = std::max(receiveBlocks, b);
      Step recv = recvStep(static_cast<int>(sender), into);
      if (!intoAcc && lastReduce != kNoStep) recv.dependOn(lastReduce);
      received.push_back({a, b, into, schedule.add(recv)});
    }

    // Reduce rotated [0, m): cut where the received pieces, the held blocks and the Input's
    // wrap cut it, so that every part has one source of each operand.
    std::vector<std::size_t> cuts = cutsOf(0, m, held, n - r);
    for (const Received& piece : received) cuts.push_back(piece.from);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
      const std::size_t a = cuts[k], blocks = cuts[k + 1] - a;
      const auto piece =
          std::find_if(received.begin(), received.end(), [a](const Received& p) { return p.from <= a && a < p.to; });
      const Span theirs{BufferId::Scratch, piece->span.offset + (a - piece->from) * count, blocks * count};
      const Span into = last ? Span{BufferId::Output, 0, count} : Span{BufferId::Scratch, a * count, blocks * count};
      Step reduce = reduceStep(into, blockOf(r, a, blocks, held), theirs, /*finalize=*/last);
      reduce.dependOn(piece->step);
      if (lastReduce != kNoStep) reduce.dependOn(lastReduce);
      lastReduce = schedule.add(reduce);
    }
    held = std::max(held, m);
  }
  schedule.scratchCount = receiveAt + receiveBlocks * count;
  return schedule;
}

}  // namespace banyan::algorithms
