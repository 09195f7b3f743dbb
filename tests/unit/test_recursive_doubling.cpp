#include "algorithms/recursive_doubling.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

using namespace banyan::algorithms;

TEST_CASE("recursive doubling allreduce is exact for every rank count", "[schedule]") {
  banyan::test::expectExactForAll(checkAllreduce, banyan::test::sizesUpTo(32), {0, 1, 5, 64}, 31,
                                  recursiveDoublingAllreduce);
}

TEST_CASE("recursive doubling allgather is exact for powers of two", "[schedule]") {
  banyan::test::expectExactForAll(checkAllgather, {1, 2, 4, 8, 16, 32}, {0, 1, 7}, 13, recursiveDoublingAllgather);
}

TEST_CASE("recursive doubling takes log2 rounds", "[schedule]") {
  // 8 ranks: 3 rounds of one send, one recv and one reduce each.
  const Schedule schedule = recursiveDoublingAllreduce(5, 8, 100);
  CHECK(schedule.steps.size() == 9);
  CHECK(schedule.scratchCount == 100);
  // 6 ranks: rank 5 only folds onto rank 1 and back.
  const Schedule extra = recursiveDoublingAllreduce(5, 6, 100);
  REQUIRE(extra.steps.size() == 2);
  CHECK(extra.steps[0].kind == StepKind::Send);
  CHECK(extra.steps[0].peer == 1);
  CHECK(extra.steps[1].kind == StepKind::Recv);
}
