#include "algorithms/rabenseifner.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

using namespace banyan::algorithms;

TEST_CASE("Rabenseifner allreduce is exact for 1..64 ranks", "[schedule]") {
  banyan::test::expectExactForAll(checkAllreduce, banyan::test::sizesUpTo(64), {0, 1, 5, 64, 100}, 41,
                                  rabenseifnerAllreduce);
}

TEST_CASE("Rabenseifner takes 2 log2 rounds and sends about twice the vector", "[schedule]") {
  const Schedule schedule = rabenseifnerAllreduce(3, 8, 800);
  std::size_t sent = 0, sends = 0;
  for (const Step& step : schedule.steps) {
    if (step.kind == StepKind::Send) {
      ++sends;
      sent += step.a.count;
    }
  }
  CHECK(sends == 6);               // 3 halving rounds, 3 doubling rounds
  CHECK(sent == 2 * 800 * 7 / 8);  // 2 (p - 1) / p of the vector
  // 6 ranks: rank 5 folds onto rank 1 and gets the result back.
  const Schedule extra = rabenseifnerAllreduce(5, 6, 100);
  REQUIRE(extra.steps.size() == 2);
  CHECK(extra.steps[0].peer == 1);
}
