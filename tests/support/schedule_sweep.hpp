#pragma once
// Runs the symbolic checker over a grid of rank counts and element counts for one schedule
// generator, and fails the test case at the first defect, naming the size and count.

#include "algorithms/symbolic.hpp"

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

// 1, 2, ..., last.
inline std::vector<int> sizesUpTo(int last) {
  std::vector<int> sizes(static_cast<std::size_t>(last));
  std::iota(sizes.begin(), sizes.end(), 1);
  return sizes;
}

// Each (size, count) is checked with seed size * seedFactor + count.
inline void expectExactForAll(CheckFunction check, const std::vector<int>& sizes, const std::vector<std::size_t>& counts,
                              std::uint64_t seedFactor, const Generator& make) {
  for (int size : sizes) {
    for (std::size_t count : counts) {
      algorithms::CheckOptions options;
      options.seed = static_cast<std::uint64_t>(size) * seedFactor + count;
      const std::string defect = check(size, count, [&](int rank) { return make(rank, size, count); }, options);
      INFO("size " << size << " count " << count);
      CHECK(defect.empty());
      if (!defect.empty()) FAIL(defect);
    }
  }
}

}  // namespace banyan::test
