#pragma once
// Runs the symbolic checker over a grid of rank counts and element counts (and roots, for the
// rooted collectives) for one schedule generator, and fails the test case at the first defect,
// naming the size, count and root.

#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

namespace banyan::test {

using CheckFunction = std::string (*)(int, std::size_t, const std::function<algorithms::Schedule(int)>&,
                                      const algorithms::CheckOptions&);
using Generator = std::function<algorithms::Schedule(int rank, int size, std::size_t count)>;
using RootedCheckFunction = std::string (*)(int, int, std::size_t, const std::function<algorithms::Schedule(int)>&,
                                            const algorithms::CheckOptions&);
using RootedGenerator = std::function<algorithms::Schedule(int rank, int size, int root, std::size_t count)>;

// A schedule maker for all ranks with one rank's schedule changed by `mutate`: how the negative
// tests break a correct schedule.
template <typename Maker, typename Mutation>
std::function<algorithms::Schedule(int)> mutated(Maker make, int victim, Mutation mutate) {
  return [=](int rank) {
    algorithms::Schedule schedule = make(rank);
    if (rank == victim) mutate(schedule);
    return schedule;
  };
}

// Index of the first step of `kind` at or after `from` (steps.size() when there is none).
inline std::size_t firstStepOf(const algorithms::Schedule& schedule, algorithms::StepKind kind, std::size_t from = 0) {
  for (std::size_t i = from; i < schedule.steps.size(); ++i) {
    if (schedule.steps[i].kind == kind) return i;
  }
  return schedule.steps.size();
}

// 1, 2, ..., last.
inline std::vector<int> sizesUpTo(int last) {
  std::vector<int> sizes(static_cast<std::size_t>(last));
  std::iota(sizes.begin(), sizes.end(), 1);
  return sizes;
}

// 1, 2, 4, ..., up to last.
inline std::vector<int> powersOfTwoUpTo(int last) {
  std::vector<int> sizes;
  for (int size = 1; size <= last; size *= 2) sizes.push_back(size);
  return sizes;
}

// Every root while size <= allRootsUpTo; beyond, the roots that exercise the edges of the
// rank numbering: 0, 1, the middle and the last two.
inline std::vector<int> rootsFor(int size, int allRootsUpTo) {
  std::vector<int> roots;
  if (size <= allRootsUpTo) {
    roots.resize(static_cast<std::size_t>(size));
    std::iota(roots.begin(), roots.end(), 0);
    return roots;
  }
  for (int root : {0, 1, size / 2, size - 2, size - 1}) {
    if (roots.empty() || roots.back() != root) roots.push_back(root);
  }
  return roots;
}

// Each (size, count) is checked with seed size * seedFactor + count. `options` sets what is
// checked (the seed is overwritten).
inline void expectExactForAll(CheckFunction check, const std::vector<int>& sizes,
                              const std::vector<std::size_t>& counts, std::uint64_t seedFactor, const Generator& make,
                              algorithms::CheckOptions options = {}) {
  for (int size : sizes) {
    for (std::size_t count : counts) {
      options.seed = static_cast<std::uint64_t>(size) * seedFactor + count;
      const std::string defect = check(
          size, count, [&](int rank) { return make(rank, size, count); }, options);
      INFO("size " << size << " count " << count);
      CHECK(defect.empty());
      if (!defect.empty()) FAIL(defect);
    }
  }
}

// The same for rooted collectives, at every root of rootsFor(size, allRootsUpTo); seed size *
// seedFactor + count * 64 + root.
inline void expectExactForAllRoots(RootedCheckFunction check, const std::vector<int>& sizes,
                                   const std::vector<std::size_t>& counts, int allRootsUpTo, std::uint64_t seedFactor,
                                   const RootedGenerator& make) {
  for (int size : sizes) {
    for (std::size_t count : counts) {
      for (int root : rootsFor(size, allRootsUpTo)) {
        algorithms::CheckOptions options;
        options.seed = static_cast<std::uint64_t>(size) * seedFactor + count * 64 + static_cast<std::uint64_t>(root);
        const std::string defect = check(
            size, root, count, [&](int rank) { return make(rank, size, root, count); }, options);
        INFO("size " << size << " count " << count << " root " << root);
        CHECK(defect.empty());
        if (!defect.empty()) FAIL(defect);
      }
    }
  }
}

}  // namespace banyan::test
