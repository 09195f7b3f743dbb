#pragma once
// The binomial tree that the rooted collectives (broadcast, reduce, gather, scatter) share.
//
// Ranks are renumbered relative to the root: relative rank v = (rank - root) mod size, so the
// root is 0. With low(v) the lowest set bit of v (for the root: the smallest power of two not
// below size), rank v's parent is v - low(v), its children are v + m for m = 1, 2, 4, ... below
// low(v) (and v + m < size), and its subtree is the contiguous relative range
// [v, min(v + low(v), size)). Every rank is ceil(log2(size)) hops or fewer from the root, and
// a subtree is one contiguous run of relative ranks, so gather and scatter can move a whole
// subtree as one message (two when its absolute ranks wrap past size - 1; see wrapPoint).

#include <vector>

namespace banyan::algorithms {

class BinomialTree {
 public:
  BinomialTree(int size, int root) : size_(size), root_(root) {}

  int relative(int rank) const { return ((rank - root_) % size_ + size_) % size_; }
  int absolute(int relativeRank) const { return (relativeRank + root_) % size_; }

  // low(v): the span of v's subtree before clipping at size.
  int low(int v) const {
    if (v != 0) return v & -v;
    int span = 1;
    while (span < size_) span *= 2;
    return span;
  }
  int parent(int v) const { return v - low(v); }
  // One past the last relative rank of v's subtree.
  int subtreeEnd(int v) const { return v + low(v) < size_ ? v + low(v) : size_; }
  // v's children, the smallest subtree first.
  std::vector<int> children(int v) const {
    std::vector<int> result;
    for (int m = 1; m < low(v) && v + m < size_; m *= 2) result.push_back(v + m);
    return result;
  }
  // The relative rank whose absolute rank is 0: a relative range [a, b) with a < wrapPoint() < b
  // is two absolute ranges, [absolute(a), size) and [0, absolute(b - 1)].
  int wrapPoint() const { return size_ - root_; }

 private:
  int size_;
  int root_;
};

}  // namespace banyan::algorithms
