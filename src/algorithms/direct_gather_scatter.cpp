// Direct gather and scatter as schedules.
//
// Every non-root rank sends its Input to the root (gather), or receives its block from the
// root into Output (scatter), in one message; the root posts all size - 1 messages at once,
// straight from and into its own buffers, and copies its own block (a no-op in place). The
// root's messages are in rank order starting after the root, so that ranks do not all queue
// behind rank 0 when the transport serves them in posting order.
//
// Cost: one message latency plus the root's link moving (size - 1) * count elements, with no
// forwarding and no scratch. The binomial trees (binomial_gather.cpp, binomial_scatter.cpp)
// take log2(size) latencies instead of the root's size - 1 per-message overheads, which only
// matters for small blocks.

#include "algorithms/gather_scatter.hpp"

#include <stdexcept>

namespace banyan::algorithms {
namespace {

void checkArguments(const char* name, int rank, int size, int root) {
  if (size < 1 || rank < 0 || rank >= size || root < 0 || root >= size) {
    throw std::invalid_argument(std::string(name) + ": need 0 <= rank, root < size");
  }
}

}  // namespace

Schedule directGather(int rank, int size, int root, std::size_t count) {
  checkArguments("directGather", rank, size, root);
  Schedule schedule;
  if (count == 0) return schedule;
  const Span input{BufferId::Input, 0, count};
  if (rank != root) {
    schedule.add(sendStep(root, input));
    return schedule;
  }
  for (int k = 1; k < size; ++k) {
    const int peer = (root + k) % size;
    schedule.add(recvStep(peer, Span{BufferId::Output, static_cast<std::size_t>(peer) * count, count}));
  }
  schedule.add(copyStep(Span{BufferId::Output, static_cast<std::size_t>(root) * count, count}, input));
  return schedule;
}

Schedule directScatter(int rank, int size, int root, std::size_t count) {
  checkArguments("directScatter", rank, size, root);
  Schedule schedule;
  if (count == 0) return schedule;
  const Span output{BufferId::Output, 0, count};
  if (rank != root) {
    schedule.add(recvStep(root, output));
    return schedule;
  }
  for (int k = 1; k < size; ++k) {
    const int peer = (root + k) % size;
    schedule.add(sendStep(peer, Span{BufferId::Input, static_cast<std::size_t>(peer) * count, count}));
  }
  schedule.add(copyStep(output, Span{BufferId::Input, static_cast<std::size_t>(root) * count, count}));
  return schedule;
}

}  // namespace banyan::algorithms
