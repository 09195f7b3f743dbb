// Pairwise-exchange alltoall and alltoallv as schedules.
//
// At step k = 1 .. size - 1 rank r sends its block for rank r + k and receives the block of
// rank r - k (mod size), straight between Input and Output; its own block is a local Copy,
// last and depending on nothing. Every pair of ranks exchanges exactly once, at steps k and
// size - k, and at every step each rank has one peer to send to and one to receive from, so no
// rank's link is flooded by size - 1 peers at once.
//
// Throttling: deps are the only ordering, so without any the executor would post all 2 (size
// - 1) messages at once. Instead each message depends on the message kInFlight positions
// earlier in this rank's list (sends and receives alternate), which keeps about kInFlight / 2
// steps going: enough to hide a message latency behind the transfers of the steps before, few
// enough to keep the pairwise order. That cannot deadlock: a message of step k waits only on
// messages of this rank of steps < k, and those wait on other ranks' messages of steps lower
// still (the kInFlight earlier positions include at least one whole step).
//
// Alltoallv is the same with per-peer counts and offsets; a zero-length block is no message,
// on the sender (its sendCounts entry is 0) as on the receiver (its recvCounts entry is 0).
//
// Cost: size - 1 steps; every element crosses the network once, which is the least possible,
// so this is the alltoall for large blocks. Bruck (bruck_alltoall.cpp) needs only log2 steps.
//
// Out of place only: in place, the receive from r - k at step k would overwrite the block that
// goes to r - k at step size - k, and waiting for that send would deadlock a rendezvous
// transport (both ranks of a pair would wait for the other's receive).

#include "algorithms/alltoall.hpp"

#include <stdexcept>
#include <vector>

namespace banyan::algorithms {
namespace {
constexpr std::size_t kInFlight = 8;
}  // namespace

Schedule pairwiseAlltoallv(int rank, int size, std::span<const std::size_t> sendCounts,
                           std::span<const std::size_t> sendOffsets, std::span<const std::size_t> recvCounts,
                           std::span<const std::size_t> recvOffsets) {
  const auto n = static_cast<std::size_t>(size);
  if (size < 1 || rank < 0 || rank >= size || sendCounts.size() != n || sendOffsets.size() != n ||
      recvCounts.size() != n || recvOffsets.size() != n) {
    throw std::invalid_argument("pairwiseAlltoallv: need 0 <= rank < size and size entries per table");
  }
  const auto own = static_cast<std::size_t>(rank);
  if (sendCounts[own] != recvCounts[own]) {
    throw std::invalid_argument(
        "pairwiseAlltoallv: the block a rank sends itself must be as long as the one it receives");
  }
  Schedule schedule;
  std::vector<std::uint32_t> messages;  // this rank's message steps, in order
  auto addMessage = [&](Step step) {
    if (messages.size() >= kInFlight) step.dependOn(messages[messages.size() - kInFlight]);
    messages.push_back(schedule.add(step));
  };
  for (int k = 1; k < size; ++k) {
    const auto to = static_cast<std::size_t>((rank + k) % size);
    const auto from = static_cast<std::size_t>((rank - k + size) % size);
    if (sendCounts[to] != 0) {
      addMessage(sendStep(static_cast<int>(to), Span{BufferId::Input, sendOffsets[to], sendCounts[to]}));
    }
    if (recvCounts[from] != 0) {
      addMessage(recvStep(static_cast<int>(from), Span{BufferId::Output, recvOffsets[from], recvCounts[from]}));
    }
  }
  if (sendCounts[own] != 0) {
    schedule.add(copyStep(Span{BufferId::Output, recvOffsets[own], recvCounts[own]},
                          Span{BufferId::Input, sendOffsets[own], sendCounts[own]}));
  }
  return schedule;
}

Schedule pairwiseAlltoall(int rank, int size, std::size_t count) {
  if (size < 1) throw std::invalid_argument("pairwiseAlltoall: need size >= 1");
  const auto n = static_cast<std::size_t>(size);
  const std::vector<std::size_t> counts(n, count);
  std::vector<std::size_t> offsets(n);
  for (std::size_t p = 0; p < n; ++p) offsets[p] = p * count;
  return pairwiseAlltoallv(rank, size, counts, offsets, counts, offsets);
}

}  // namespace banyan::algorithms
