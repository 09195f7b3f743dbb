// Binomial-tree reduce as a schedule (the tree: binomial_tree.hpp).
//
// The broadcast tree run backwards: a rank receives the partial sum of each child's subtree,
// reduces them into its own Input, and sends the result to its parent. Leaves send their Input
// as it is. Children are reduced smallest subtree first, the order in which their sums are
// ready. The root reduces into Output; its last Reduce completes the reduction and is marked
// finalize.
//
// Every child's message lands in its own Scratch slot, so all receives are posted at once and
// a late child holds up only its own Reduce; other ranks accumulate in one more Scratch
// buffer. With at most log2(size) children that is little memory for the small messages
// this is for.
//
// Cost: ceil(log2(size)) message latencies, each carrying the whole buffer. For large buffers
// the root receives log2(size) full buffers, and the pipelined chain (chain_reduce.cpp) wins.

#include "algorithms/binomial_tree.hpp"
#include "algorithms/rooted_reduce.hpp"

#include <stdexcept>

namespace banyan::algorithms {

Schedule binomialReduce(int rank, int size, int root, std::size_t count) {
  if (size < 1 || rank < 0 || rank >= size || root < 0 || root >= size) {
    throw std::invalid_argument("binomialReduce: need 0 <= rank, root < size");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  const Span input{BufferId::Input, 0, count};
  const BinomialTree tree(size, root);
  const int v = tree.relative(rank);
  const auto children = tree.children(v);
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, input));
    return schedule;
  }
  if (children.empty()) {
    schedule.add(sendStep(tree.absolute(tree.parent(v)), input));
    return schedule;
  }

  // Scratch: [partial sum (not on the root)] [one slot per child].
  const bool isRoot = v == 0;
  const std::size_t slotsBase = isRoot ? 0 : count;
  schedule.scratchCount = slotsBase + children.size() * count;
  const Span sum = isRoot ? Span{BufferId::Output, 0, count} : Span{BufferId::Scratch, 0, count};
  std::vector<std::uint32_t> received;
  for (std::size_t c = 0; c < children.size(); ++c) {
    received.push_back(
        schedule.add(recvStep(tree.absolute(children[c]), Span{BufferId::Scratch, slotsBase + c * count, count})));
  }
  std::uint32_t lastReduce = 0;
  for (std::size_t c = 0; c < children.size(); ++c) {
    const bool completes = isRoot && c + 1 == children.size();
    Step reduce = reduceStep(sum, c == 0 ? input : sum, Span{BufferId::Scratch, slotsBase + c * count, count},
                             /*finalize=*/completes);
    reduce.dependOn(received[c]);
    if (c > 0) reduce.dependOn(lastReduce);
    lastReduce = schedule.add(reduce);
  }
  if (!isRoot) {
    Step send = sendStep(tree.absolute(tree.parent(v)), sum);
    send.dependOn(lastReduce);
    schedule.add(send);
  }
  return schedule;
}

}  // namespace banyan::algorithms
