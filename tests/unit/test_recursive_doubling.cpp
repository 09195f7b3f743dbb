#include "algorithms/recursive_doubling.hpp"
#include "algorithms/symbolic.hpp"

#include <catch2/catch.hpp>

using namespace banyan::algorithms;

TEST_CASE("recursive doubling allreduce is exact for every rank count", "[schedule]") {
  for (int size = 1; size <= 32; ++size) {
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{64}}) {
      CheckOptions options;
      options.seed = static_cast<std::uint64_t>(size) * 31 + count;
      const std::string defect =
          checkAllreduce(size, count, [&](int rank) { return recursiveDoublingAllreduce(rank, size, count); }, options);
      INFO("size " << size << " count " << count);
      CHECK(defect.empty());
      if (!defect.empty()) FAIL(defect);
    }
  }
}

TEST_CASE("recursive doubling allgather is exact for powers of two", "[schedule]") {
  for (int size : {1, 2, 4, 8, 16, 32}) {
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
      CheckOptions options;
      options.seed = static_cast<std::uint64_t>(size) * 13 + count;
      const std::string defect =
          checkAllgather(size, count, [&](int rank) { return recursiveDoublingAllgather(rank, size, count); }, options);
      INFO("size " << size << " count " << count);
      CHECK(defect.empty());
      if (!defect.empty()) FAIL(defect);
    }
  }
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
