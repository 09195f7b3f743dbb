// Reduce-scatter schedules, checked symbolically for every rank count up to 64, and the
// reduce-scatter checker against schedules broken on purpose.

#include "algorithms/reduce_scatter.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using namespace banyan::algorithms;
using banyan::test::expectExactForAll;
using banyan::test::mutated;
using banyan::test::sizesUpTo;

TEST_CASE("ring reduce-scatter is exact for every rank count", "[schedule][reduce_scatter]") {
  // Slices of 1 and 3 elements pipeline many slices per block; a huge slice is one per block.
  for (const std::size_t slice : {std::size_t{1}, std::size_t{3}, std::size_t{1} << 40}) {
    INFO("slice " << slice);
    expectExactForAll(
        checkReduceScatter, sizesUpTo(64), {0, 1, 5}, 7 + slice,
        [slice](int rank, int size, std::size_t count) { return ringReduceScatter(rank, size, count, slice); });
  }
  // Many slices per block on a few rank counts: the slot count must stay above the slice count.
  expectExactForAll(checkReduceScatter, {2, 3, 8, 13}, {64}, 11,
                    [](int rank, int size, std::size_t count) { return ringReduceScatter(rank, size, count, 4); });
}

TEST_CASE("recursive halving reduce-scatter is exact for every rank count", "[schedule][reduce_scatter]") {
  expectExactForAll(checkReduceScatter, sizesUpTo(64), {0, 1, 3}, 19, recursiveHalvingReduceScatter);
}

TEST_CASE("reduce-scatter schedules have the advertised shape", "[schedule][reduce_scatter]") {
  // Ring: size - 1 steps of S slices, each a send, a receive and a reduce; S + 1 slots.
  const Schedule ring = ringReduceScatter(2, 5, 12, 4);
  CHECK(ring.steps.size() == 4 * 3 * 3);
  CHECK(ring.scratchCount == 4 * 4);
  // Recursive halving on 8 ranks: 3 rounds of send, receive, reduce; 4 + 2 blocks of scratch.
  const Schedule halving = recursiveHalvingReduceScatter(5, 8, 10);
  CHECK(halving.steps.size() == 9);
  CHECK(halving.scratchCount == 6 * 10);
  // 6 ranks: rank 2 folds onto rank 3 and only sends and receives once.
  CHECK(recursiveHalvingReduceScatter(2, 6, 10).steps.size() == 2);
}

TEST_CASE("the reduce-scatter checker reports broken schedules", "[schedule][reduce_scatter]") {
  const int size = 5;
  const std::size_t count = 6;
  auto ring = [=](int rank) { return ringReduceScatter(rank, size, count, 2); };
  REQUIRE(checkReduceScatter(size, count, ring) == "");

  SECTION("a result in the wrong block") {
    // Rank 3 reduces its Input block 2 instead of 3 in the last step.
    const std::string error = checkReduceScatter(size, count, mutated(ring, 3, [](Schedule& s) {
                                                   for (Step& step : s.steps) {
                                                     if (step.kind == StepKind::Reduce && step.finalize)
                                                       step.a.offset -= count;
                                                   }
                                                 }));
    INFO(error);
    CHECK(error.find("rank 3") != std::string::npos);
  }

  SECTION("writing Input") {
    const std::string error = checkReduceScatter(size, count, mutated(ring, 1, [](Schedule& s) {
                                                   for (Step& step : s.steps) {
                                                     if (step.kind == StepKind::Reduce && step.finalize)
                                                       step.dst = step.a;
                                                   }
                                                 }));
    INFO(error);
    CHECK(error.find("writes Input") != std::string::npos);
  }

  SECTION("a dropped step") {
    const std::string error =
        checkReduceScatter(size, count, mutated(ring, 0, [](Schedule& s) { s.steps.pop_back(); }));
    INFO(error);
    CHECK(!error.empty());
  }

  SECTION("too few slots deadlock a rendezvous transport") {
    // Three slices per block in three slots instead of four, with the deps redone properly (a
    // receive into a slot waits for the last reader of its previous content): no race, but
    // each rank's step-0 sends wait for the next rank to post three receives, which it cannot
    // before its own forwards have completed, around the ring.
    auto fewSlots = [=](int rank) {
      Schedule s = ringReduceScatter(rank, size, count, 2);
      const std::size_t slotSize = 2;
      const std::size_t slots = 3;
      std::vector<std::size_t> movedTo(4, 0);  // the generator's slot -> where its content is now
      std::vector<std::uint32_t> lastReader(slots, 0);
      std::vector<bool> read(slots, false);
      std::size_t receives = 0;
      for (std::uint32_t i = 0; i < s.steps.size(); ++i) {
        Step& step = s.steps[i];
        if (step.kind == StepKind::Recv) movedTo[step.dst.offset / slotSize] = receives++ % slots;
        for (Span* span : {&step.a, &step.b, &step.dst}) {
          if (span->buffer == BufferId::Scratch) span->offset = movedTo[span->offset / slotSize] * slotSize;
        }
        if (step.kind == StepKind::Recv) {
          const std::size_t slot = step.dst.offset / slotSize;
          step.depCount = 0;
          if (read[slot]) step.dependOn(lastReader[slot]);
        } else if (step.a.buffer == BufferId::Scratch || step.b.buffer == BufferId::Scratch) {
          const Span& operand = step.a.buffer == BufferId::Scratch ? step.a : step.b;
          lastReader[operand.offset / slotSize] = i;
          read[operand.offset / slotSize] = true;
        }
      }
      s.scratchCount = slots * slotSize;
      return s;
    };
    const std::string error = checkReduceScatter(size, count, fewSlots);
    INFO(error);
    CHECK(error.find("deadlock") != std::string::npos);
  }
}
