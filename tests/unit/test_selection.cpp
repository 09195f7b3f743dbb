// Algorithm choice for the collectives beyond allreduce and allgather, and that every choice
// has a schedule behind it for the shapes the tests and users will hit.

#include "runtime/plan_cache.hpp"
#include "tuning/selection.hpp"

#include <catch2/catch.hpp>

using banyan::Collective;
using banyan::tuning::Algorithm;
using banyan::tuning::choose;

TEST_CASE("size bands pick the latency algorithm small and the bandwidth one large", "[unit][tuning]") {
  CHECK(choose(Collective::Broadcast, 4, 1024) == Algorithm::BinomialTree);
  CHECK(choose(Collective::Broadcast, 4, 1 << 20) == Algorithm::Chain);
  CHECK(choose(Collective::Reduce, 5, 64 * 1024) == Algorithm::BinomialTree);
  CHECK(choose(Collective::Reduce, 5, 64 * 1024 + 1) == Algorithm::Chain);
  CHECK(choose(Collective::ReduceScatter, 4, 1024) == Algorithm::RecursiveHalving);
  CHECK(choose(Collective::ReduceScatter, 3, 1024) == Algorithm::Ring);  // not a power of two
  CHECK(choose(Collective::ReduceScatter, 4, 1 << 20) == Algorithm::Ring);
  CHECK(choose(Collective::ReduceScatter, 1, 16) == Algorithm::Ring);
  CHECK(choose(Collective::Gather, 8, 512) == Algorithm::BinomialTree);
  CHECK(choose(Collective::Scatter, 8, 1 << 20) == Algorithm::Direct);
  CHECK(choose(Collective::Alltoall, 5, 64) == Algorithm::Bruck);
  CHECK(choose(Collective::Alltoall, 2, 64) == Algorithm::Pairwise);  // one exchange either way
  CHECK(choose(Collective::Alltoall, 5, 1 << 20) == Algorithm::Pairwise);
  CHECK(choose(Collective::Barrier, 7, 0) == Algorithm::Dissemination);
}

TEST_CASE("every chosen algorithm has a schedule, and the root is part of the plan's key", "[unit][tuning]") {
  const Collective kinds[] = {Collective::ReduceScatter, Collective::Broadcast, Collective::Reduce, Collective::Gather,
                              Collective::Scatter,       Collective::Alltoall,  Collective::Barrier};
  for (Collective kind : kinds) {
    for (int size = 1; size <= 8; ++size) {
      for (std::size_t bytes : {std::size_t{4}, std::size_t{4} << 20}) {
        banyan::runtime::PlanCache cache;
        const Algorithm algorithm = choose(kind, size, bytes);
        CHECK_FALSE(banyan::tuning::reason(kind, size, bytes).empty());
        const std::size_t count = kind == Collective::Barrier ? 0 : bytes / 4;
        auto first = cache.get(kind, algorithm, 0, size, 0, count, 1024);
        CHECK(first.refusal == "");
        REQUIRE(first.plan != nullptr);
        auto again = cache.get(kind, algorithm, 0, size, 0, count, 1024);
        CHECK(first.plan == again.plan);
        if (size > 1 && banyan::isRooted(kind)) {
          CHECK(cache.get(kind, algorithm, 0, size, size - 1, count, 1024).plan != first.plan);
        }
      }
    }
  }
}
