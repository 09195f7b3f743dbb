// Recursive-doubling allreduce as a schedule.
//
// Terms
//   p2        the largest power of two not above size.
//   extra     the size - p2 ranks numbered p2 and up. Each is folded onto a partner: extra
//             rank p2 + k pairs with rank k.
//   round     one exchange between partners rank ^ mask, for mask = 1, 2, 4, ... < p2. Both
//             send their whole current vector, receive the partner's into Scratch, and reduce
//             Output = current op Scratch. After round m every rank holds the reduction over
//             the 2^(m+1) ranks that share its high bits; after the last, over all p2 ranks.
//   current   what a rank sends in a round: its Input until it has reduced once, then Output.
//
// Fold (size not a power of two): before the rounds, extra rank p2 + k sends its Input to
// rank k, which reduces it into Output; after the rounds, rank k sends the result back into
// the extra rank's Output. The extra ranks sit out the rounds.
//
// Every message is the whole vector, so this costs log2(p2) (+2 with a fold) message latencies
// and moves count * log2(p2) elements per rank: it wins for small counts, the ring for large.
// All ranks compute the same combination tree in mirrored operand order; sum, prod, min and
// max are commutative in IEEE arithmetic, so every rank ends with bitwise identical results.
//
// In place, Input and Output are the same memory: each Reduce that overwrites it depends on the
// Send that read it, and the extra rank's final Recv depends on its fold Send.

#include "algorithms/recursive_doubling.hpp"

namespace banyan::algorithms {
namespace {
constexpr std::uint32_t kNoDep = 0xffffffffu;
}  // namespace

Schedule recursiveDoublingAllreduce(int rank, int size, std::size_t count) {
  Schedule schedule;
  if (count == 0) return schedule;
  const Span input{BufferId::Input, 0, count};
  const Span output{BufferId::Output, 0, count};
  const Span scratch{BufferId::Scratch, 0, count};
  if (size == 1) {
    schedule.add(copyStep(output, input));
    return schedule;
  }
  schedule.scratchCount = count;

  int p2 = 1;
  while (p2 * 2 <= size) p2 *= 2;

  if (rank >= p2) {
    // Extra rank: hand the input to the partner, wait for the full result.
    const std::uint32_t sent = schedule.add(sendStep(rank - p2, input));
    Step back = recvStep(rank - p2, output);
    back.dependOn(sent);
    schedule.add(back);
    return schedule;
  }

  Span current = input;
  // The last step that reads `current` (a Send) and the last that wrote Scratch's reader.
  std::uint32_t lastReduce = 0;
  bool reduced = false;
  auto reduceRound = [&](std::uint32_t send, std::uint32_t recv, bool finalize) {
    Step reduce = reduceStep(output, current, scratch, finalize);
    if (send != kNoDep) reduce.dependOn(send);
    reduce.dependOn(recv);
    if (reduced) reduce.dependOn(lastReduce);
    lastReduce = schedule.add(reduce);
    reduced = true;
    current = output;
  };

  const int extras = size - p2;
  if (rank < extras) {
    const std::uint32_t recv = schedule.add(recvStep(rank + p2, scratch));
    reduceRound(kNoDep, recv, p2 == 1);
  }
  for (int mask = 1; mask < p2; mask <<= 1) {
    const int partner = rank ^ mask;
    Step send = sendStep(partner, current);
    if (reduced) send.dependOn(lastReduce);
    const std::uint32_t sent = schedule.add(send);
    Step recv = recvStep(partner, scratch);
    if (reduced) recv.dependOn(lastReduce);  // Scratch is free once the last Reduce read it
    const std::uint32_t received = schedule.add(recv);
    reduceRound(sent, received, mask * 2 == p2);
  }
  if (rank < extras) {
    Step back = sendStep(rank + p2, output);
    back.dependOn(lastReduce);
    schedule.add(back);
  }
  return schedule;
}

}  // namespace banyan::algorithms
