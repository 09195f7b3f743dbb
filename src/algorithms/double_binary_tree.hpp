#pragma once
// Double binary tree allreduce (as NCCL's): two binary trees over the ranks whose interior
// nodes are disjoint, each reducing and broadcasting half the vector in pipelined slices, so
// every rank forwards data in at most one tree and all links carry about the same bytes. The
// trees and the schedule are explained in double_binary_tree.cpp.

#include "algorithms/schedule.hpp"

#include <array>
#include <cstddef>

namespace banyan::algorithms {

// One rank's place in one of the two trees.
struct TreeNode {
  int parent = -1;  // -1: the root
  std::array<int, 2> children{-1, -1};
  int childCount = 0;
};

// Rank `rank`'s node in tree `tree` (0 or 1) of the double binary tree over `size` ranks.
TreeNode doubleTreeNode(int tree, int rank, int size);

// Slots of received slices per child: a child's slice c lands in slot c % this, reused once
// the reduction of slice c - slots has read it.
inline constexpr std::size_t kTreeScratchSlots = 4;

// Allreduce of `count` elements: the first half (count / 2 elements) over tree 0, the rest over
// tree 1, each cut into slices of at most sliceCount (>= 1) elements. Scratch needed: at most
// 2 * 2 * kTreeScratchSlots * sliceCount elements.
Schedule doubleBinaryTreeAllreduce(int rank, int size, std::size_t count, std::size_t sliceCount);

}  // namespace banyan::algorithms
