// Binomial-tree broadcast as a schedule (the tree: binomial_tree.hpp).
//
// Each rank receives the whole buffer from its parent into Output and then sends it to its
// children, the child with the largest subtree first, so that the deepest part of the tree
// starts forwarding earliest. The root sends straight from Input, so its sends do not wait for
// its own Input -> Output Copy (which is last and depends on nothing; a no-op in place).
//
// Cost: ceil(log2(size)) message latencies, each carrying the whole buffer: the right choice
// while latency dominates. For large buffers the root sends log2(size) full copies, and the
// pipelined chain (chain_broadcast.cpp) wins.

#include "algorithms/binomial_tree.hpp"
#include "algorithms/broadcast.hpp"

#include <stdexcept>

namespace banyan::algorithms {

Schedule binomialBroadcast(int rank, int size, int root, std::size_t count) {
  if (size < 1 || rank < 0 || rank >= size || root < 0 || root >= size) {
    throw std::invalid_argument("binomialBroadcast: need 0 <= rank, root < size");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  const Span output{BufferId::Output, 0, count};
  const BinomialTree tree(size, root);
  const int v = tree.relative(rank);
  const auto children = tree.children(v);

  if (v == 0) {
    for (auto child = children.rbegin(); child != children.rend(); ++child) {
      schedule.add(sendStep(tree.absolute(*child), Span{BufferId::Input, 0, count}));
    }
    schedule.add(copyStep(output, Span{BufferId::Input, 0, count}));
    return schedule;
  }
  const std::uint32_t received = schedule.add(recvStep(tree.absolute(tree.parent(v)), output));
  for (auto child = children.rbegin(); child != children.rend(); ++child) {
    Step send = sendStep(tree.absolute(*child), output);
    send.dependOn(received);
    schedule.add(send);
  }
  return schedule;
}

}  // namespace banyan::algorithms
