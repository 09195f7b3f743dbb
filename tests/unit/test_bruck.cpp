#include "algorithms/bruck.hpp"
#include "algorithms/symbolic.hpp"

#include <catch2/catch.hpp>

using namespace banyan::algorithms;

TEST_CASE("Bruck allgather is exact for every rank count", "[schedule]") {
  for (int size = 1; size <= 32; ++size) {
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{40}}) {
      CheckOptions options;
      options.seed = static_cast<std::uint64_t>(size) * 17 + count;
      const std::string defect =
          checkAllgather(size, count, [&](int rank) { return bruckAllgather(rank, size, count); }, options);
      INFO("size " << size << " count " << count);
      CHECK(defect.empty());
      if (!defect.empty()) FAIL(defect);
    }
  }
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
