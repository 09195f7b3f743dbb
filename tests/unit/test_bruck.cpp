#include "algorithms/bruck.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

using namespace banyan::algorithms;

TEST_CASE("Bruck allgather is exact for every rank count", "[schedule]") {
  banyan::test::expectExactForAll(checkAllgather, banyan::test::sizesUpTo(32), {0, 1, 3, 40}, 17, bruckAllgather);
}

TEST_CASE("Bruck allgather takes ceil(log2 n) rounds", "[schedule]") {
  // 5 ranks: rounds at distance 1, 2, 4 (the last moves one block), a copy in, 5 copies out.
  const Schedule schedule = bruckAllgather(2, 5, 10);
  int sends = 0;
  for (const Step& step : schedule.steps) sends += step.kind == StepKind::Send ? 1 : 0;
  CHECK(sends == 3);
  CHECK(schedule.steps.size() == 1 + 3 * 2 + 5);
  CHECK(schedule.scratchCount == 50);
}
