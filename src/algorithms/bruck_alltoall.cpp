// Bruck alltoall as a schedule.
//
// Terms
//   D         Scratch blocks in an order rotated by this rank: D block i is, at first, this
//             rank's Input block for rank (rank + i) mod size, i.e. data that still has to
//             travel i ranks onwards.
//   round     for each bit d = 1, 2, 4, ... < size: every D block i with bit d set travels d
//             ranks onwards: this rank sends those blocks to rank + d and receives the same
//             positions from rank - d. A block at position i therefore moves exactly i ranks
//             in all, one bit at a time, and keeps its position.
//   P, R      the blocks of a round are not contiguous in D, so they are packed into P (one
//             Copy each), sent as one message, received into R and unpacked into D.
//
// After the rounds, D block i on rank x holds the block that rank x - i sent to x, and a last
// Copy per block puts it into Output block (x - i) mod size.
//
// Cost: ceil(log2(size)) message latencies against pairwise exchange's size - 1, but every
// round moves about half of all blocks, so each rank sends about count * size / 2 *
// log2(size) elements and copies each block a few times: a win for small blocks only.
//
// Dependencies (at most four per step): the packing Copies of a round are chained, the first
// also depending on the previous round's send (P is free again), each on the last writer of its
// D block; the send depends on the last packing Copy. The receive depends on the last unpacking
// Copy of the previous round (R is free again); the unpacking Copies are chained, each also
// depending on the receive and on the last packing Copy of the round (which read the D block
// it overwrites). In place, Output block j is Input block j, so the final Copy into it also
// depends on the rotation Copy that read it.

#include "algorithms/alltoall.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace banyan::algorithms {
namespace {
constexpr std::uint32_t kNoStep = 0xffffffffu;

void dependIfAny(Step& step, std::uint32_t index) {
  if (index != kNoStep) step.dependOn(index);
}
}  // namespace

Schedule bruckAlltoall(int rank, int size, std::size_t count) {
  if (size < 1 || rank < 0 || rank >= size) throw std::invalid_argument("bruckAlltoall: need 0 <= rank < size");
  Schedule schedule;
  if (count == 0) return schedule;
  const auto n = static_cast<std::size_t>(size);
  const auto r = static_cast<std::size_t>(rank);
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, Span{BufferId::Input, 0, count}));
    return schedule;
  }
  // Positions moved in each round.
  std::vector<std::vector<std::size_t>> rounds;
  std::size_t widest = 0;
  for (std::size_t d = 1; d < n; d *= 2) {
    std::vector<std::size_t> moved;
    for (std::size_t i = 1; i < n; ++i) {
      if ((i & d) != 0) moved.push_back(i);
    }
    widest = std::max(widest, moved.size());
    rounds.push_back(std::move(moved));
  }
  const std::size_t packBase = n * count;
  const std::size_t recvBase = packBase + widest * count;
  schedule.scratchCount = recvBase + widest * count;
  auto block = [count](std::size_t base, std::size_t i) { return Span{BufferId::Scratch, base + i * count, count}; };

  std::vector<std::uint32_t> rotated(n), writer(n);
  for (std::size_t i = 0; i < n; ++i) {
    rotated[i] = writer[i] = schedule.add(copyStep(block(0, i), Span{BufferId::Input, (r + i) % n * count, count}));
  }
  std::uint32_t lastSend = kNoStep;
  std::uint32_t lastUnpack = kNoStep;
  std::size_t d = 1;
  for (const auto& moved : rounds) {
    const std::size_t m = moved.size();
    std::uint32_t lastPack = kNoStep;
    for (std::size_t t = 0; t < m; ++t) {
      Step pack = copyStep(block(packBase, t), block(0, moved[t]));
      pack.dependOn(writer[moved[t]]);
      dependIfAny(pack, lastPack);
      if (t == 0) dependIfAny(pack, lastSend);
      lastPack = schedule.add(pack);
    }
    Step send = sendStep(static_cast<int>((r + d) % n), Span{BufferId::Scratch, packBase, m * count});
    send.dependOn(lastPack);
    lastSend = schedule.add(send);
    Step recv = recvStep(static_cast<int>((r + n - d) % n), Span{BufferId::Scratch, recvBase, m * count});
    dependIfAny(recv, lastUnpack);
    const std::uint32_t received = schedule.add(recv);
    for (std::size_t t = 0; t < m; ++t) {
      Step unpack = copyStep(block(0, moved[t]), block(recvBase, t));
      unpack.dependOn(received);
      unpack.dependOn(lastPack);
      if (t > 0) unpack.dependOn(lastUnpack);
      lastUnpack = writer[moved[t]] = schedule.add(unpack);
    }
    d *= 2;
  }
  for (std::size_t i = 0; i < n; ++i) {
    Step out = copyStep(Span{BufferId::Output, (r + n - i) % n * count, count}, block(0, i));
    out.dependOn(writer[i]);
    out.dependOn(rotated[(n - i) % n]);
    schedule.add(out);
  }
  return schedule;
}

}  // namespace banyan::algorithms
