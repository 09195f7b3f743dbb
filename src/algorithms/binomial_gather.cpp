// Binomial-tree gather as a schedule (the tree: binomial_tree.hpp).
//
// A subtree is a contiguous run of relative ranks, so a rank can collect its subtree's blocks
// in relative order in Scratch (its own block first, copied from Input, then each child's
// subtree where it belongs) and send them to its parent as one message. Leaves send their Input
// directly. The root receives each child's subtree straight into Output: relative ranks
// [c, e) are absolute ranks root + c, ..., which are consecutive Output blocks unless they pass
// rank size - 1; then the child sends them as two messages, split where they wrap, so that
// each lands in place. The root copies its own Input into Output block root (no-op in place).
//
// Cost: ceil(log2(size)) message latencies; the root receives (size - 1) * count elements, as
// in any gather, and an inner rank forwards its subtree once.
//
// Dependencies: the send to the parent reads the own block (the copy) and every child's
// blocks; receives are chained, each depending on the one before, so "after the last receive"
// covers all of them within the four deps a step may have. Children are received smallest
// subtree first, the order in which they finish.

#include "algorithms/binomial_tree.hpp"
#include "algorithms/gather_scatter.hpp"

#include <stdexcept>

namespace banyan::algorithms {

Schedule binomialGather(int rank, int size, int root, std::size_t count) {
  if (size < 1 || rank < 0 || rank >= size || root < 0 || root >= size) {
    throw std::invalid_argument("binomialGather: need 0 <= rank, root < size");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  const Span input{BufferId::Input, 0, count};
  const BinomialTree tree(size, root);
  const int v = tree.relative(rank);
  const int wrap = tree.wrapPoint();
  auto blocks = [count](int first, int end) { return static_cast<std::size_t>(end - first) * count; };

  if (v == 0) {
    for (const int child : tree.children(v)) {
      const int end = tree.subtreeEnd(child);
      const int peer = tree.absolute(child);
      const auto at = static_cast<std::size_t>(peer) * count;
      if (child < wrap && wrap < end) {
        schedule.add(recvStep(peer, Span{BufferId::Output, at, blocks(child, wrap)}));
        schedule.add(recvStep(peer, Span{BufferId::Output, 0, blocks(wrap, end)}));
      } else {
        schedule.add(recvStep(peer, Span{BufferId::Output, at, blocks(child, end)}));
      }
    }
    schedule.add(copyStep(Span{BufferId::Output, static_cast<std::size_t>(rank) * count, count}, input));
    return schedule;
  }

  const int parent = tree.absolute(tree.parent(v));
  const int end = tree.subtreeEnd(v);
  if (end == v + 1) {
    schedule.add(sendStep(parent, input));
    return schedule;
  }
  schedule.scratchCount = blocks(v, end);
  const std::uint32_t copied = schedule.add(copyStep(Span{BufferId::Scratch, 0, count}, input));
  std::uint32_t lastRecv = copied;
  for (const int child : tree.children(v)) {
    Step recv = recvStep(tree.absolute(child),
                         Span{BufferId::Scratch, blocks(v, child), blocks(child, tree.subtreeEnd(child))});
    if (lastRecv != copied) recv.dependOn(lastRecv);
    lastRecv = schedule.add(recv);
  }
  auto sendPart = [&](int first, int partEnd) {
    Step send = sendStep(parent, Span{BufferId::Scratch, blocks(v, first), blocks(first, partEnd)});
    send.dependOn(copied);
    send.dependOn(lastRecv);
    schedule.add(send);
  };
  if (tree.parent(v) == 0 && v < wrap && wrap < end) {
    sendPart(v, wrap);
    sendPart(wrap, end);
  } else {
    sendPart(v, end);
  }
  return schedule;
}

}  // namespace banyan::algorithms
