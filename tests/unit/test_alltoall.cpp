// Alltoall and alltoallv schedules, checked symbolically for every rank count up to 64, and
// their checkers against schedules broken on purpose.

#include "algorithms/alltoall.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <vector>

using namespace banyan::algorithms;
using banyan::test::expectExactForAll;
using banyan::test::firstStepOf;
using banyan::test::mutated;
using banyan::test::sizesUpTo;

namespace {

using Table = std::vector<std::vector<std::size_t>>;

// Makes each rank's pairwiseAlltoallv from a layout whose offsets are filled in.
ScheduleMaker alltoallvMaker(const AlltoallvLayout& layout) {
  return [layout](int rank) {
    const auto n = layout.counts.size();
    const auto r = static_cast<std::size_t>(rank);
    std::vector<std::size_t> recvCounts(n);
    for (std::size_t p = 0; p < n; ++p) recvCounts[p] = layout.counts[p][r];
    return pairwiseAlltoallv(rank, static_cast<int>(n), layout.counts[r], layout.sendOffsets[r], recvCounts,
                             layout.recvOffsets[r]);
  };
}

// A layout with uneven and zero counts: counts[r][p] = (r * 7 + p * 3) % 4, so about a quarter of
// the blocks are empty. Send blocks are packed in reverse peer order (overlapping nothing);
// receive blocks are packed in peer order with a gap of one element after each.
AlltoallvLayout unevenLayout(int size) {
  const auto n = static_cast<std::size_t>(size);
  AlltoallvLayout layout;
  layout.counts.assign(n, std::vector<std::size_t>(n));
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t p = 0; p < n; ++p) layout.counts[r][p] = (r * 7 + p * 3) % 4;
  }
  layout.sendOffsets.assign(n, std::vector<std::size_t>(n));
  layout.recvOffsets.assign(n, std::vector<std::size_t>(n));
  for (std::size_t r = 0; r < n; ++r) {
    std::size_t at = 0;
    for (std::size_t p = n; p-- > 0;) {
      layout.sendOffsets[r][p] = at;
      at += layout.counts[r][p];
    }
    at = 0;
    for (std::size_t p = 0; p < n; ++p) {
      layout.recvOffsets[r][p] = at;
      at += layout.counts[p][r] + 1;
    }
  }
  return layout;
}

}  // namespace

TEST_CASE("pairwise alltoall is exact for every rank count", "[schedule][alltoall]") {
  CheckOptions outOfPlace;
  outOfPlace.inPlace = false;  // pairwise exchange is out of place only (alltoall.hpp)
  expectExactForAll(checkAlltoall, sizesUpTo(64), {0, 1, 3}, 61, pairwiseAlltoall, outOfPlace);
}

TEST_CASE("Bruck alltoall is exact for every rank count, in place too", "[schedule][alltoall]") {
  expectExactForAll(checkAlltoall, sizesUpTo(64), {0, 1, 2}, 67, bruckAlltoall);
}

TEST_CASE("pairwise alltoallv is exact with uneven, empty and scattered blocks", "[schedule][alltoall]") {
  for (int size = 1; size <= 64; size += size < 12 ? 1 : 7) {
    const AlltoallvLayout layout = unevenLayout(size);
    CheckOptions options;
    options.seed = static_cast<std::uint64_t>(size) * 71;
    const std::string error = checkAlltoallv(layout, alltoallvMaker(layout), options);
    INFO("size " << size);
    REQUIRE(error == "");
  }
}

TEST_CASE("alltoallv sends no message for an empty block", "[schedule][alltoall]") {
  // 3 ranks; rank 0 sends nothing to 1 and receives nothing from 2.
  const Table counts{{2, 0, 1}, {3, 1, 1}, {0, 2, 2}};
  AlltoallvLayout layout{counts, {}, {}};
  // Packed offsets, as the checker fills them in.
  layout.sendOffsets = {{0, 2, 2}, {0, 3, 4}, {0, 0, 2}};
  layout.recvOffsets = {{0, 2, 5}, {0, 0, 1}, {0, 1, 2}};
  REQUIRE(checkAlltoallv(AlltoallvLayout{counts, {}, {}}, alltoallvMaker(layout)) == "");
  const Schedule rank0 = alltoallvMaker(layout)(0);
  REQUIRE(rank0.steps.size() == 3);  // a send to 2, a receive from 1, the own block's copy
  CHECK(rank0.steps[0].kind == StepKind::Send);
  CHECK(rank0.steps[0].peer == 2);
  CHECK(rank0.steps[1].kind == StepKind::Recv);
  CHECK(rank0.steps[1].peer == 1);
  CHECK(rank0.steps[2].kind == StepKind::Copy);
}

TEST_CASE("alltoall schedules have the advertised shape", "[schedule][alltoall]") {
  // Pairwise on 12 ranks: 11 sends, 11 receives, one copy; the ninth message on waits for the
  // one eight before it.
  const Schedule pairwise = pairwiseAlltoall(4, 12, 3);
  REQUIRE(pairwise.steps.size() == 23);
  CHECK(pairwise.steps[7].depCount == 0);
  CHECK(pairwise.steps[8].depCount == 1);
  CHECK(pairwise.steps[8].deps[0] == 0);
  // Bruck on 5 ranks: 3 rounds (moving blocks 1,3 / 2,3 / 4).
  const Schedule bruck = bruckAlltoall(1, 5, 2);
  int sends = 0;
  for (const Step& step : bruck.steps) sends += step.kind == StepKind::Send ? 1 : 0;
  CHECK(sends == 3);
  CHECK(bruck.scratchCount == (5 + 2 * 2) * 2);
}

TEST_CASE("the alltoall checkers report broken schedules", "[schedule][alltoall]") {
  const int size = 5;
  const std::size_t count = 3;
  auto bruck = [=](int rank) { return bruckAlltoall(rank, size, count); };
  REQUIRE(checkAlltoall(size, count, bruck) == "");

  SECTION("pairwise exchange in place loses blocks") {
    const std::string error = checkAlltoall(size, count, [=](int rank) { return pairwiseAlltoall(rank, size, count); });
    INFO(error);
    CHECK(error.find("in place") == 0);
  }

  SECTION("a final copy into the wrong block") {
    const std::string error = checkAlltoall(size, count, mutated(bruck, 3, [=](Schedule& s) {
                                              Step& last = s.steps.back();
                                              last.dst.offset = (last.dst.offset + count) % (size * count);
                                            }));
    INFO(error);
    CHECK(error.find("rank 3") != std::string::npos);
  }

  SECTION("a missing dep in the unpacking") {
    // The first unpacking copy no longer waits for the packing that read its block.
    const std::string error = checkAlltoall(size, count, mutated(bruck, 1, [](Schedule& s) {
                                              const std::size_t recv = firstStepOf(s, StepKind::Recv);
                                              Step& unpack = s.steps[recv + 1];
                                              unpack.depCount = 0;
                                              unpack.dependOn(static_cast<std::uint32_t>(recv));
                                            }));
    INFO(error);
    CHECK(error.find("data race") != std::string::npos);
  }

  SECTION("an alltoallv message for an empty block") {
    const AlltoallvLayout layout = unevenLayout(4);
    // counts[1][3] is (7 + 9) % 4 = 0: rank 1 sends rank 3 a message all the same.
    REQUIRE(layout.counts[1][3] == 0);
    const std::string error = checkAlltoallv(layout, mutated(alltoallvMaker(layout), 1, [](Schedule& s) {
                                               s.add(sendStep(3, Span{BufferId::Input, 0, 1}));
                                             }));
    INFO(error);
    CHECK(error.find("no matching receive") != std::string::npos);
  }

  SECTION("an alltoallv that writes a gap") {
    const AlltoallvLayout layout = unevenLayout(4);
    // Rank 2 receives 2 elements from rank 0 at Output 0, then leaves a gap at element 2.
    REQUIRE(layout.counts[0][2] == 2);
    const std::string error =
        checkAlltoallv(layout, mutated(alltoallvMaker(layout), 2, [](Schedule& s) {
                         s.add(copyStep(Span{BufferId::Output, 2, 1}, Span{BufferId::Input, 0, 1}));
                       }));
    INFO(error);
    CHECK(error.find("rank 2: output element 2 is written, but no block covers it") != std::string::npos);
  }

  SECTION("overlapping alltoallv receive blocks") {
    AlltoallvLayout layout{Table{{1, 1}, {1, 1}}, {}, Table{{0, 0}, {0, 1}}};
    const std::string error = checkAlltoallv(layout, [](int) { return Schedule{}; });
    CHECK(error.find("overlapping") != std::string::npos);
  }
}
