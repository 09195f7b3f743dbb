// Double binary tree allreduce as a schedule.
//
// Terms
//   m         the ranks that take part in both trees' interiors: size when it is even,
//             size - 1 when odd (rank size - 1 is then a leaf of both trees, see below).
//   tree 0    an in-order binary tree over ranks 0..m-1: the parent of rank r > 0 is r with
//             its lowest set bit cleared and the next bit set, or, when that is not below m,
//             simply cleared; rank 0 is the root and has one child. Odd ranks have no children
//             (their lowest bit is 1), so the interior nodes are even ranks.
//   tree 1    tree 0 mirrored: rank r plays rank m - 1 - r. Since m is even, its interior
//             nodes are odd ranks: no rank forwards data in both trees.
//   odd size  rank size - 1 joins both trees as the second child of their roots (each root
//             has one child), so it is a leaf twice and the interiors stay disjoint.
//   half      tree 0 carries elements [0, count / 2), tree 1 [count / 2, count).
//   slice     a half is cut into slices of at most sliceCount elements; slices travel up and
//             down the tree one behind the other (the pipeline), so the time is about
//             2 * depth slice latencies plus the bytes of one half over a link, twice.
//
// Per slice, in a tree
//   up     a leaf sends its Input slice to its parent. An interior node receives each child's
//          slice into a scratch slot and folds it into its Output slice (Output = Input op
//          child 0, then Output = Output op child 1), then sends Output to its parent; at the
//          root the last fold finalizes.
//   down   a non-root receives the final slice from its parent into Output (after its send up
//          read that memory), and every node with children sends the final slice to each.
//
// Order: both trees' slices are generated slice-major, the downs a lag of L slices behind the
// ups (step c: tree 0 up of slice c, tree 1 up of slice c, tree 0 down of slice c - L, tree 1
// down of slice c - L), the same on every rank, so the k-th message between two ranks is the
// same slice on both sides, even where an edge of one tree is the reverse of the other's. Every
// step depends only on steps earlier in that order, so the executor's in-order posting per peer
// cannot deadlock.
//
// Why the lag: where an edge is the reverse of one in the other tree (already at 4 ranks: 1 -> 2
// up tree 0, 2 -> 1 down tree 1), one rank sends both an up slice and a down slice to the same
// peer, and the executor posts a rank's sends to one peer in step order. Without the lag, the
// up send of slice c + 1 waited for the down send of slice c, which waits for slice c's whole
// round trip through the other tree's root: one slice per round trip instead of one per hop
// (banyan-sim: 8 MiB on 1024 hosts took 13x Rabenseifner's time, docs/simulation.md). Such an
// edge always joins a leaf of tree 0 to a leaf of tree 1 (interiors are disjoint), whose up
// sends are of their Input and ready at once; a lag as long as a round trip, 2 (depth + 1)
// slices, lets them run ahead so that the downs no longer hold them back.
//
// In place, Input and Output alias: a fold reads and writes the same slice, and the receive
// from the parent waits for the send up.

#include "algorithms/double_binary_tree.hpp"

#include "algorithms/ring.hpp"

#include <algorithm>
#include <vector>

namespace banyan::algorithms {

namespace {

// Tree 0's parent of rank r among m ranks (see "tree 0" above); -1 for the root.
int inOrderParent(int r, int m) {
  if (r == 0) return -1;
  const int bit = r & -r;
  const int up = (r ^ bit) | (bit << 1);
  return up < m ? up : r ^ bit;
}

struct SliceSteps {
  std::uint32_t lastUp = 0;  // the step that read Output (or Input, for a leaf) to send up
  bool sentUp = false;
  std::uint32_t final = 0;  // the step after which Output holds the final slice
  bool haveFinal = false;
};

}  // namespace

TreeNode doubleTreeNode(int tree, int rank, int size) {
  TreeNode node;
  if (size <= 1) return node;
  const int m = size % 2 == 0 ? size : size - 1;
  auto addChild = [&node](int child) { node.children[static_cast<std::size_t>(node.childCount++)] = child; };
  if (rank == m) {  // odd size: the extra leaf, child of both roots
    node.parent = tree == 0 ? 0 : m - 1;
    return node;
  }
  // Work in tree 0's numbering, then map back.
  const auto toTree = [&](int r) { return tree == 0 ? r : m - 1 - r; };
  const int v = toTree(rank);
  const int p = inOrderParent(v, m);
  node.parent = p < 0 ? -1 : toTree(p);
  // Children: the (at most two) ranks whose parent is v. v's subtree spans v +- (lowest bit of
  // v) - 1, and a rank of lowest bit b in it is v - b or v + b, or has a parent other than v; so
  // testing those candidates, b from large to small, finds the children in O(log m) (a scan of
  // all m ranks made every rank's plan O(m), and the cost model, which asks every rank, O(m^2):
  // 5 s per selector call at 8192 ranks).
  const int top = v == 0 ? m : (v & -v);
  int b = 1;
  while (b * 2 < top) b *= 2;
  std::array<int, 2> found{};
  int count = 0;
  for (; b >= 1 && count < 2; b /= 2) {
    for (const int c : {v - b, v + b}) {
      if (c > 0 && c < m && inOrderParent(c, m) == v && count < 2) found[static_cast<std::size_t>(count++)] = c;
    }
  }
  std::sort(found.begin(), found.begin() + count);  // in ascending order, as the plans always listed them
  for (int i = 0; i < count; ++i) addChild(toTree(found[static_cast<std::size_t>(i)]));
  if (p < 0 && m != size) addChild(m);
  return node;
}

Schedule doubleBinaryTreeAllreduce(int rank, int size, std::size_t count, std::size_t sliceCount) {
  Schedule schedule;
  if (count == 0) return schedule;
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, Span{BufferId::Input, 0, count}));
    return schedule;
  }
  sliceCount = std::max<std::size_t>(1, sliceCount);
  const std::array<TreeNode, 2> nodes{doubleTreeNode(0, rank, size), doubleTreeNode(1, rank, size)};
  const std::array<ElementRange, 2> halves{ElementRange{0, count / 2}, ElementRange{count / 2, count - count / 2}};
  const std::array<std::size_t, 2> slices{(halves[0].count + sliceCount - 1) / sliceCount,
                                          (halves[1].count + sliceCount - 1) / sliceCount};
  const std::size_t sliceTotal = std::max(slices[0], slices[1]);

  // Scratch slot (tree, child, slice c): index [tree][child][c % kTreeScratchSlots], each slot
  // as long as the longest slice.
  const std::size_t stride = std::min(sliceCount, halves[1].count);
  const auto slotIndex = [](int tree, int child, std::size_t c) {
    return (static_cast<std::size_t>(tree) * 2 + static_cast<std::size_t>(child)) * kTreeScratchSlots +
           c % kTreeScratchSlots;
  };
  // The fold that last read each slot, to order its reuse.
  std::vector<std::uint32_t> slotReader(2 * 2 * kTreeScratchSlots, 0);
  std::vector<bool> slotUsed(2 * 2 * kTreeScratchSlots, false);
  std::vector<std::array<SliceSteps, 2>> sliceSteps(sliceTotal);
  int depth = 1;  // hops from the deepest leaf to a root, rounded up: log2(size) + 1
  while ((1 << (depth - 1)) < size) ++depth;
  const std::size_t lag = 2 * static_cast<std::size_t>(depth + 1);

  const auto sliceOf = [&](int tree, std::size_t c) {
    const ElementRange& half = halves[static_cast<std::size_t>(tree)];
    const std::size_t begin = c * sliceCount;
    return ElementRange{half.offset + begin, std::min(sliceCount, half.count - begin)};
  };

  for (std::size_t step = 0; step < sliceTotal + lag; ++step) {
    // Up: fold the children's slices, pass the partial result to the parent.
    for (int tree = 0; tree < 2 && step < sliceTotal; ++tree) {
      const std::size_t c = step;
      SliceSteps& s = sliceSteps[c][static_cast<std::size_t>(tree)];
      if (c >= slices[static_cast<std::size_t>(tree)]) continue;
      const TreeNode& node = nodes[static_cast<std::size_t>(tree)];
      const ElementRange range = sliceOf(tree, c);
      const Span input{BufferId::Input, range.offset, range.count};
      const Span output{BufferId::Output, range.offset, range.count};
      Span partial = input;
      bool folded = false;
      std::uint32_t lastFold = 0;
      for (int k = 0; k < node.childCount; ++k) {
        const std::size_t index = slotIndex(tree, k, c);
        const Span into{BufferId::Scratch, index * stride, range.count};
        Step recv = recvStep(node.children[static_cast<std::size_t>(k)], into);
        if (slotUsed[index]) recv.dependOn(slotReader[index]);
        const std::uint32_t received = schedule.add(recv);
        const bool last = k + 1 == node.childCount;
        Step fold = reduceStep(output, partial, into, /*finalize=*/last && node.parent < 0);
        fold.dependOn(received);
        if (folded) fold.dependOn(lastFold);
        lastFold = schedule.add(fold);
        slotReader[index] = lastFold;
        slotUsed[index] = true;
        folded = true;
        partial = output;
      }
      if (node.parent >= 0) {
        Step send = sendStep(node.parent, partial);
        if (folded) send.dependOn(lastFold);
        s.lastUp = schedule.add(send);
        s.sentUp = true;
      } else {
        s.final = lastFold;  // the root: its last fold finalized (a root always has a child)
        s.haveFinal = true;
      }
    }
    // Down: receive the final slice from the parent, hand it to the children.
    for (int tree = 0; tree < 2 && step >= lag; ++tree) {
      const std::size_t c = step - lag;
      if (c >= slices[static_cast<std::size_t>(tree)]) continue;
      SliceSteps& s = sliceSteps[c][static_cast<std::size_t>(tree)];
      const TreeNode& node = nodes[static_cast<std::size_t>(tree)];
      const ElementRange range = sliceOf(tree, c);
      const Span output{BufferId::Output, range.offset, range.count};
      if (node.parent >= 0) {
        Step recv = recvStep(node.parent, output);
        recv.dependOn(s.lastUp);  // overwrites what the send up read (in place: the Input too)
        s.final = schedule.add(recv);
        s.haveFinal = true;
      }
      for (int k = 0; k < node.childCount; ++k) {
        Step send = sendStep(node.children[static_cast<std::size_t>(k)], output);
        send.dependOn(s.final);
        schedule.add(send);
      }
    }
  }
  schedule.scratchCount = 2 * 2 * kTreeScratchSlots * stride;
  return schedule;
}

}  // namespace banyan::algorithms
