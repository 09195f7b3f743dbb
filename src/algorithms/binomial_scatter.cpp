// Binomial-tree scatter as a schedule (the tree: binomial_tree.hpp).
//
// The gather tree run forwards: a rank receives its subtree's blocks, in relative order, from
// its parent as one message into Scratch, copies its own (the first) into Output and sends each
// child its subtree's blocks, the largest subtree first, so that the deepest part of the tree
// starts earliest. Leaves receive straight into Output. The root sends from Input: a child's
// subtree is consecutive Input blocks unless its absolute ranks pass rank size - 1; then it
// goes as two messages split where they wrap (and the child receives two). The root copies its
// own Input block into Output (no-op in place).
//
// Cost: ceil(log2(size)) message latencies; the root sends (size - 1) * count elements, as in
// any scatter, and an inner rank forwards its subtree once.

#include "algorithms/binomial_tree.hpp"
#include "algorithms/gather_scatter.hpp"

#include <stdexcept>

namespace banyan::algorithms {

Schedule binomialScatter(int rank, int size, int root, std::size_t count) {
  if (size < 1 || rank < 0 || rank >= size || root < 0 || root >= size) {
    throw std::invalid_argument("binomialScatter: need 0 <= rank, root < size");
  }
  Schedule schedule;
  if (count == 0) return schedule;
  const Span output{BufferId::Output, 0, count};
  const BinomialTree tree(size, root);
  const int v = tree.relative(rank);
  const int wrap = tree.wrapPoint();
  auto blocks = [count](int first, int end) { return static_cast<std::size_t>(end - first) * count; };
  const auto children = tree.children(v);

  if (v == 0) {
    for (auto child = children.rbegin(); child != children.rend(); ++child) {
      const int end = tree.subtreeEnd(*child);
      const int peer = tree.absolute(*child);
      const auto at = static_cast<std::size_t>(peer) * count;
      if (*child < wrap && wrap < end) {
        schedule.add(sendStep(peer, Span{BufferId::Input, at, blocks(*child, wrap)}));
        schedule.add(sendStep(peer, Span{BufferId::Input, 0, blocks(wrap, end)}));
      } else {
        schedule.add(sendStep(peer, Span{BufferId::Input, at, blocks(*child, end)}));
      }
    }
    schedule.add(copyStep(output, Span{BufferId::Input, static_cast<std::size_t>(rank) * count, count}));
    return schedule;
  }

  const int parent = tree.absolute(tree.parent(v));
  const int end = tree.subtreeEnd(v);
  if (end == v + 1) {
    schedule.add(recvStep(parent, output));
    return schedule;
  }
  schedule.scratchCount = blocks(v, end);
  // The subtree's blocks, in one message or, from the root across the wrap, two.
  std::uint32_t received = schedule.add(recvStep(parent, Span{BufferId::Scratch, 0, blocks(v, end)}));
  std::uint32_t alsoReceived = received;
  if (tree.parent(v) == 0 && v < wrap && wrap < end) {
    schedule.steps[received].dst.count = blocks(v, wrap);
    alsoReceived = schedule.add(recvStep(parent, Span{BufferId::Scratch, blocks(v, wrap), blocks(wrap, end)}));
  }
  for (auto child = children.rbegin(); child != children.rend(); ++child) {
    Step send = sendStep(tree.absolute(*child),
                         Span{BufferId::Scratch, blocks(v, *child), blocks(*child, tree.subtreeEnd(*child))});
    send.dependOn(received);
    send.dependOn(alsoReceived);
    schedule.add(send);
  }
  Step copy = copyStep(output, Span{BufferId::Scratch, 0, count});
  copy.dependOn(received);
  schedule.add(copy);
  return schedule;
}

}  // namespace banyan::algorithms
