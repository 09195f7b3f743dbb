// The dissemination barrier, checked symbolically for every rank count up to 64, and the
// barrier checker against barriers that let a rank through too early.

#include "algorithms/barrier.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace banyan::algorithms;
using banyan::test::mutated;

TEST_CASE("the dissemination barrier holds every rank until all have arrived", "[schedule][barrier]") {
  for (int size = 1; size <= 64; ++size) {
    CheckOptions options;
    options.seed = static_cast<std::uint64_t>(size) * 73;
    const std::string error = checkBarrier(
        size, [size](int rank) { return disseminationBarrier(rank, size); }, options);
    INFO("size " << size);
    REQUIRE(error == "");
  }
}

TEST_CASE("the dissemination barrier takes ceil(log2 n) rounds", "[schedule][barrier]") {
  CHECK(disseminationBarrier(0, 1).steps.empty());
  CHECK(disseminationBarrier(3, 8).steps.size() == 2 * 3);
  CHECK(disseminationBarrier(3, 9).steps.size() == 2 * 4);
  CHECK(disseminationBarrier(3, 9).scratchCount == 2);
}

TEST_CASE("the barrier checker reports barriers that let a rank through early", "[schedule][barrier]") {
  const int size = 6;
  auto barrier = [=](int rank) { return disseminationBarrier(rank, size); };

  SECTION("one round too few") {
    // Rounds at distance 1 and 2 only: rank r has heard of r - 3 .. r, not of r - 4 and r - 5.
    const std::string error = checkBarrier(size, [=](int rank) {
      Schedule s = disseminationBarrier(rank, size);
      s.steps.resize(4);
      return s;
    });
    INFO(error);
    CHECK(error.find("can finish before rank") != std::string::npos);
  }

  SECTION("a send that does not wait for the previous round") {
    // Six ranks: rounds at distance 1, 2, 4, and rank 0 hears from 5, 4 and 2 in turn. Rank 2's
    // last send no longer waits for what rank 2 learned (that rank 1 has arrived), so rank 0
    // never hears of rank 1.
    const std::string error = checkBarrier(size, mutated(barrier, 2, [](Schedule& s) { s.steps[4].depCount = 0; }));
    INFO(error);
    CHECK(error.find("rank 0 can finish before rank") != std::string::npos);
  }

  SECTION("messages everywhere, but only in one direction") {
    // Everybody tells rank 0 and waits for nothing: rank 0 cannot leave early, the others can.
    const std::string error = checkBarrier(size, [=](int rank) {
      Schedule s;
      s.scratchCount = 1;
      if (rank == 0) {
        for (int peer = 1; peer < size; ++peer) s.add(recvStep(peer, Span{BufferId::Scratch, 0, 1}));
        for (std::uint32_t i = 1; i < s.steps.size(); ++i) s.steps[i].dependOn(i - 1);
      } else {
        s.add(sendStep(0, Span{BufferId::Scratch, 0, 1}));
      }
      return s;
    });
    INFO(error);
    CHECK(error.find("rank 1 can finish before rank 0") != std::string::npos);
  }
}
