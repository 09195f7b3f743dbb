// Rooted collectives (broadcast, reduce, gather, scatter), checked symbolically for every rank
// count up to 64 and every root on small rank counts, and their checkers against schedules
// broken on purpose.

#include "algorithms/broadcast.hpp"
#include "algorithms/gather_scatter.hpp"
#include "algorithms/rooted_reduce.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace banyan::algorithms;
using banyan::test::expectExactForAllRoots;
using banyan::test::firstStepOf;
using banyan::test::mutated;
using banyan::test::sizesUpTo;

namespace {

// Every root up to this many ranks; beyond, the roots of rootsFor.
constexpr int kAllRootsUpTo = 9;

// Counts below, at and above small rank counts: count 2 on 5 ranks has fewer elements than
// ranks, which matters to the sliced (chain) schedules.
const std::vector<std::size_t> kCounts{0, 1, 2, 9};

}  // namespace

TEST_CASE("binomial broadcast is exact for every rank count and root", "[schedule][rooted]") {
  expectExactForAllRoots(checkBroadcast, sizesUpTo(64), kCounts, kAllRootsUpTo, 23, binomialBroadcast);
}

TEST_CASE("chain broadcast is exact for every rank count and root", "[schedule][rooted]") {
  for (const std::size_t slice : {std::size_t{1}, std::size_t{4}}) {
    INFO("slice " << slice);
    expectExactForAllRoots(checkBroadcast, sizesUpTo(64), kCounts, kAllRootsUpTo, 29 + slice,
                           [slice](int rank, int size, int root, std::size_t count) {
                             return chainBroadcast(rank, size, root, count, slice);
                           });
  }
}

TEST_CASE("binomial reduce is exact for every rank count and root", "[schedule][rooted]") {
  expectExactForAllRoots(checkReduce, sizesUpTo(64), kCounts, kAllRootsUpTo, 31, binomialReduce);
}

TEST_CASE("chain reduce is exact for every rank count and root", "[schedule][rooted]") {
  for (const std::size_t slice : {std::size_t{1}, std::size_t{4}}) {
    INFO("slice " << slice);
    expectExactForAllRoots(checkReduce, sizesUpTo(64), kCounts, kAllRootsUpTo, 37 + slice,
                           [slice](int rank, int size, int root, std::size_t count) {
                             return chainReduce(rank, size, root, count, slice);
                           });
  }
  // More slices than scratch slots: slots are reused.
  expectExactForAllRoots(
      checkReduce, {2, 3, 7}, {40}, kAllRootsUpTo, 41,
      [](int rank, int size, int root, std::size_t count) { return chainReduce(rank, size, root, count, 2); });
}

TEST_CASE("binomial and direct gather are exact for every rank count and root", "[schedule][rooted]") {
  expectExactForAllRoots(checkGather, sizesUpTo(64), kCounts, kAllRootsUpTo, 43, binomialGather);
  expectExactForAllRoots(checkGather, sizesUpTo(64), {0, 3}, kAllRootsUpTo, 47, directGather);
}

TEST_CASE("binomial and direct scatter are exact for every rank count and root", "[schedule][rooted]") {
  expectExactForAllRoots(checkScatter, sizesUpTo(64), kCounts, kAllRootsUpTo, 53, binomialScatter);
  expectExactForAllRoots(checkScatter, sizesUpTo(64), {0, 3}, kAllRootsUpTo, 59, directScatter);
}

TEST_CASE("rooted schedules take log2 rounds or one pass down the chain", "[schedule][rooted]") {
  // 8 ranks, root 3: the root sends to relative ranks 4, 2, 1 and copies its own Input.
  const Schedule broadcastRoot = binomialBroadcast(3, 8, 3, 16);
  REQUIRE(broadcastRoot.steps.size() == 4);
  CHECK(broadcastRoot.steps[0].peer == 7);
  CHECK(broadcastRoot.steps[1].peer == 5);
  CHECK(broadcastRoot.steps[2].peer == 4);
  // Relative rank 6 (rank 1) receives from 4 (rank 7) and sends to 7 (rank 2).
  const Schedule inner = binomialBroadcast(1, 8, 3, 16);
  REQUIRE(inner.steps.size() == 2);
  CHECK(inner.steps[0].peer == 7);
  CHECK(inner.steps[1].peer == 2);
  // Reduce on the root: one receive and one reduce per child, the last finalizing.
  const Schedule reduceRoot = binomialReduce(0, 8, 0, 16);
  CHECK(reduceRoot.steps.size() == 6);
  CHECK(reduceRoot.steps.back().finalize);
  // A chain link receives, reduces and forwards each slice.
  CHECK(chainReduce(2, 5, 0, 100, 10).steps.size() == 30);
  // Gather: the inner rank with relative subtree [4, 8) needs 4 blocks of scratch.
  CHECK(binomialGather(4, 8, 0, 5).scratchCount == 20);
}

TEST_CASE("the rooted checkers report broken schedules", "[schedule][rooted]") {
  const int size = 6;
  const int root = 2;
  const std::size_t count = 4;

  SECTION("a broadcast from the wrong root") {
    const std::string error = checkBroadcast(
        size, root, count, [=](int rank) { return binomialBroadcast(rank, size, (root + 1) % size, count); });
    INFO(error);
    CHECK(!error.empty());
  }

  SECTION("a broadcast that skips the root's own copy") {
    auto broken = mutated([=](int rank) { return binomialBroadcast(rank, size, root, count); }, root,
                          [](Schedule& s) { s.steps.pop_back(); });
    CheckOptions inPlaceOnly;
    inPlaceOnly.outOfPlace = false;
    CHECK(checkBroadcast(size, root, count, broken, inPlaceOnly) == "");  // in place there is nothing to copy
    const std::string error = checkBroadcast(size, root, count, broken);
    INFO(error);
    CHECK(error.find("rank 2: output element 0 is never written") != std::string::npos);
  }

  SECTION("a reduce to the wrong root") {
    const std::string error =
        checkReduce(size, root, count, [=](int rank) { return binomialReduce(rank, size, 0, count); });
    INFO(error);
    CHECK(!error.empty());
  }

  SECTION("a reduce that never finalizes") {
    const std::string error =
        checkReduce(size, root, count,
                    mutated([=](int rank) { return chainReduce(rank, size, root, count, 1); }, root,
                            [](Schedule& s) {
                              for (Step& step : s.steps) step.finalize = false;
                            }));
    INFO(error);
    CHECK(error.find("without finalize") != std::string::npos);
  }

  SECTION("a gather with a child's receive dropped") {
    // Relative rank 4 (rank 0) collects relative ranks 4 and 5; drop the receive of 5.
    const std::string error = checkGather(size, root, count,
                                          mutated([=](int rank) { return binomialGather(rank, size, root, count); }, 0,
                                                  [](Schedule& s) {
                                                    const std::size_t recv = firstStepOf(s, StepKind::Recv);
                                                    s.steps.erase(s.steps.begin() + static_cast<long>(recv));
                                                    for (Step& step : s.steps) step.depCount = 0;
                                                  }));
    INFO(error);
    CHECK(error.find("no matching receive") != std::string::npos);
  }

  SECTION("a scatter that sends the wrong blocks") {
    // The root sends every child the blocks one rank further on.
    const std::string error =
        checkScatter(size, root, count,
                     mutated([=](int rank) { return directScatter(rank, size, root, count); }, root,
                             [=](Schedule& s) {
                               for (Step& step : s.steps) {
                                 if (step.kind == StepKind::Send) {
                                   step.a.offset = (step.a.offset + count) % (size * count);
                                 }
                               }
                             }));
    INFO(error);
    CHECK(error.find("does not hold element") != std::string::npos);
  }

  SECTION("a root out of range") {
    CHECK(checkGather(size, size, count, [=](int rank) { return directGather(rank, size, 0, count); }) ==
          "root 6 is not a rank of 6");
  }
}
