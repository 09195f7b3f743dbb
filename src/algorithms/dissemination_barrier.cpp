// Dissemination barrier as a schedule.
//
// In round k (distance d = 2^k < size) rank r sends a token to rank r + d and receives one from
// rank r - d (mod size); the round's send waits for the previous round's receive. By induction,
// once rank r has received in round k it knows that ranks r - (2^(k+1) - 1) .. r have all
// entered the barrier: r - d had received in round k - 1 before sending, and knew of the d
// ranks before it. After ceil(log2(size)) rounds that is every rank. Works for any rank count,
// with one message per rank and round (a tree barrier needs two passes, gather then release,
// and so twice the latency).
//
// Tokens: every send reads Scratch element 0 (never written: its content does not matter), and
// every receive writes element 1, each receive after the one before (they overwrite each
// other). Sends and receives never touch the same element, so a round's send waits for nothing
// but the previous round's receive, which is exactly the ordering the barrier needs.

#include "algorithms/barrier.hpp"

#include <stdexcept>

namespace banyan::algorithms {

Schedule disseminationBarrier(int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size) throw std::invalid_argument("disseminationBarrier: need 0 <= rank < size");
  Schedule schedule;
  if (size == 1) return schedule;
  schedule.scratchCount = 2;
  const Span outgoing{BufferId::Scratch, 0, 1};
  const Span incoming{BufferId::Scratch, 1, 1};
  std::uint32_t lastRecv = 0;
  for (int d = 1; d < size; d *= 2) {
    Step send = sendStep((rank + d) % size, outgoing);
    Step recv = recvStep((rank - d + size) % size, incoming);
    if (d > 1) {
      send.dependOn(lastRecv);
      recv.dependOn(lastRecv);
    }
    schedule.add(send);
    lastRecv = schedule.add(recv);
  }
  return schedule;
}

}  // namespace banyan::algorithms
