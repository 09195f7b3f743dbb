// The double binary tree allreduce: the shape of its two trees (each a tree, at most two
// children a node, interiors disjoint) and the symbolic check of its schedule for 1..64 ranks
// with slices that cut the halves into one, several and many pieces.

#include "algorithms/double_binary_tree.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <vector>

using namespace banyan::algorithms;

TEST_CASE("double binary tree: two trees with disjoint interiors for 2..64 ranks", "[schedule]") {
  for (int size = 2; size <= 64; ++size) {
    std::set<int> interior[2];
    for (int tree = 0; tree < 2; ++tree) {
      int roots = 0;
      for (int r = 0; r < size; ++r) {
        const TreeNode node = doubleTreeNode(tree, r, size);
        INFO("size " << size << " tree " << tree << " rank " << r);
        if (node.parent < 0) ++roots;
        if (node.childCount > 0) interior[tree].insert(r);
        // Parent and child agree.
        for (int k = 0; k < node.childCount; ++k) {
          CHECK(doubleTreeNode(tree, node.children[static_cast<std::size_t>(k)], size).parent == r);
        }
        // Every rank reaches the root within size hops (no cycle).
        int hops = 0;
        for (int x = r; doubleTreeNode(tree, x, size).parent >= 0 && hops <= size; ++hops) {
          x = doubleTreeNode(tree, x, size).parent;
        }
        CHECK(hops < size);
      }
      CHECK(roots == 1);
    }
    for (int r : interior[0]) {
      INFO("size " << size << ": rank " << r << " is interior in both trees");
      CHECK(interior[1].count(r) == 0);
    }
  }
}

TEST_CASE("double binary tree allreduce is exact for 1..64 ranks", "[schedule]") {
  for (std::size_t slice : {1, 3, 1000}) {
    INFO("slice " << slice);
    banyan::test::expectExactForAll(
        checkAllreduce, banyan::test::sizesUpTo(64), {0, 1, 2, 7, 24}, 43,
        [slice](int rank, int size, std::size_t count) { return doubleBinaryTreeAllreduce(rank, size, count, slice); });
  }
}

TEST_CASE("double binary tree: each half goes up and down once, in slices", "[schedule]") {
  // 8 ranks: rank 2 is interior in tree 0 (two children) and a leaf in tree 1.
  const TreeNode t0 = doubleTreeNode(0, 2, 8);
  const TreeNode t1 = doubleTreeNode(1, 2, 8);
  REQUIRE(t0.childCount == 2);
  REQUIRE(t1.childCount == 0);
  const Schedule schedule = doubleBinaryTreeAllreduce(2, 8, 800, 100);
  std::size_t sent = 0, received = 0, biggest = 0;
  for (const Step& step : schedule.steps) {
    if (step.kind == StepKind::Send) sent += step.a.count;
    if (step.kind == StepKind::Recv) received += step.dst.count;
    if (step.kind == StepKind::Send) biggest = std::max(biggest, step.a.count);
  }
  // Tree 0 (elements 0..399): up to the parent once, down to two children; tree 1: up once.
  CHECK(sent == 400 * 3 + 400);
  // Tree 0: two children's slices and the final result; tree 1: the final result.
  CHECK(received == 400 * 3 + 400);
  CHECK(biggest == 100);
  CHECK(schedule.scratchCount == 2 * 2 * kTreeScratchSlots * 100);
}

TEST_CASE("double binary tree: children found in O(log n) are the scan's, in the scan's order", "[schedule]") {
  // The scan doubleTreeNode used before (every rank whose parent is this one, ascending in tree
  // 0's numbering, the odd size's extra leaf last), as the reference.
  for (int size = 2; size <= 300; ++size) {
    for (int tree = 0; tree < 2; ++tree) {
      const int m = size % 2 == 0 ? size : size - 1;
      const auto toTree = [&](int r) { return tree == 0 ? r : m - 1 - r; };
      for (int r = 0; r < size; ++r) {
        std::vector<int> expected;
        for (int c = 0; c < m; ++c) {
          if (toTree(c) != r && doubleTreeNode(tree, toTree(c), size).parent == r) expected.push_back(toTree(c));
        }
        if (r < m && doubleTreeNode(tree, r, size).parent < 0 && m != size) expected.push_back(m);
        const TreeNode node = doubleTreeNode(tree, r, size);
        INFO("size " << size << " tree " << tree << " rank " << r);
        REQUIRE(node.childCount == static_cast<int>(expected.size()));
        for (int k = 0; k < node.childCount; ++k)
          CHECK(node.children[static_cast<std::size_t>(k)] == expected[static_cast<std::size_t>(k)]);
      }
    }
  }
}
