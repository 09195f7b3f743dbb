// The algorithm registry (tuning/algorithm_registry.hpp): its names parse back, the fallback
// thresholds only pick what the registry serves, every schedule it generates computes its
// collective, and requests that do not fit are refused with a reason before any generator runs.
// A new row is covered by these without a line added here.

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "support/selection.hpp"
#include "symbolic/symbolic.hpp"
#include "tuning/algorithm_registry.hpp"
#include "tuning/selection.hpp"

using banyan::Collective;
using banyan::test::errorOf;
using banyan::tuning::Algorithm;
namespace algorithms = banyan::algorithms;
namespace tuning = banyan::tuning;

namespace {

constexpr Collective kCollectives[] = {Collective::Allreduce, Collective::Allgather, Collective::ReduceScatter,
                                       Collective::Broadcast, Collective::Reduce,    Collective::Gather,
                                       Collective::Scatter,   Collective::Alltoall,  Collective::Barrier,
                                       Collective::Alltoallv};

bool powerOfTwo(int n) { return (n & (n - 1)) == 0; }

// The symbolic checker's verdict on every rank's schedule of one request shape ("" when exact), in
// place too where the schedule allows it.
std::string check(const tuning::Serves& serves, int size, int root, std::size_t count,
                  const algorithms::ScheduleMaker& make) {
  algorithms::CheckOptions options;
  options.inPlace = serves.inPlace;
  switch (serves.collective) {
    case Collective::Allreduce:
      return algorithms::checkAllreduce(size, count, make, options);
    case Collective::Allgather:
      return algorithms::checkAllgather(size, count, make, options);
    case Collective::ReduceScatter:
      return algorithms::checkReduceScatter(size, count, make, options);
    case Collective::Broadcast:
      return algorithms::checkBroadcast(size, root, count, make, options);
    case Collective::Reduce:
      return algorithms::checkReduce(size, root, count, make, options);
    case Collective::Gather:
      return algorithms::checkGather(size, root, count, make, options);
    case Collective::Scatter:
      return algorithms::checkScatter(size, root, count, make, options);
    case Collective::Alltoall:
      return algorithms::checkAlltoall(size, count, make, options);
    case Collective::Barrier:
      return algorithms::checkBarrier(size, make, options);
    case Collective::Alltoallv:
      break;
  }
  return "no checker for this collective";
}

}  // namespace

TEST_CASE("every registry row is found by its names, and names are unique", "[unit][tuning][registry]") {
  std::set<std::string_view> names;
  for (const tuning::AlgorithmRow& row : tuning::algorithmRegistry()) {
    INFO(row.name);
    CHECK(names.insert(row.name).second);
    CHECK(tuning::toString(row.algorithm) == row.name);
    CHECK(tuning::algorithmFromName(row.name) == row.algorithm);
    if (!row.alias.empty()) {
      CHECK(names.insert(row.alias).second);
      CHECK(tuning::algorithmFromName(row.alias) == row.algorithm);
    }
    CHECK_FALSE(row.serves.empty());
    for (const tuning::Serves& serves : row.serves) CHECK((serves.generate != nullptr) == serves.noSchedule.empty());
  }
  CHECK(tuning::algorithmFromName("rd") == Algorithm::RecursiveDoubling);
  CHECK(tuning::algorithmFromName("tree") == Algorithm::DoubleTree);
  CHECK_FALSE(tuning::algorithmFromName("pigeon"));
  CHECK(tuning::algorithmNames(Collective::ReduceScatter) == "ring, recursive-halving, shm, ordered, bruck-direct");
  CHECK(tuning::pricedCollectives() == std::vector<Collective>{Collective::Allreduce, Collective::Allgather,
                                                               Collective::ReduceScatter, Collective::Broadcast});
}

TEST_CASE("the size thresholds pick only what the registry serves and admits", "[unit][tuning][registry]") {
  for (Collective collective : kCollectives) {
    for (int size = 1; size <= 9; ++size) {
      for (std::size_t bytes : {std::size_t{0}, std::size_t{8}, std::size_t{4} << 10, std::size_t{16} << 20}) {
        const Algorithm chosen = tuning::choose(collective, size, bytes);
        INFO(banyan::apiName(collective) << " on " << size << " ranks, " << bytes
                                         << " B: " << tuning::toString(chosen));
        CHECK(tuning::unsupportedReason(collective, chosen, size).empty());
      }
    }
  }
}

TEST_CASE("every registered schedule computes its collective", "[unit][tuning][registry]") {
  for (const tuning::AlgorithmRow& row : tuning::algorithmRegistry()) {
    for (const tuning::Serves& serves : row.serves) {
      if (!serves.generate) continue;
      for (int size = 1; size <= 9; ++size) {
        if (serves.ranks == tuning::RankRule::PowerOfTwo && !powerOfTwo(size)) continue;
        // Two ranks a host, so the two-level schedules have leaders and locals.
        std::vector<int> hosts;
        for (int r = 0; r < size; ++r) hosts.push_back(r / 2);
        for (int root : banyan::isRooted(serves.collective) ? std::vector{0, size - 1} : std::vector{0}) {
          for (std::size_t count : {std::size_t{1}, std::size_t{7}}) {
            const auto make = [&](int rank) {
              return tuning::generateSchedule(row.algorithm, {serves.collective, rank, size, root, count, 3, hosts});
            };
            INFO(row.name << " " << banyan::apiName(serves.collective) << ": " << size << " ranks, root " << root
                          << ", count " << count);
            CHECK(check(serves, size, root, count, make) == "");
          }
        }
      }
    }
  }
}

TEST_CASE("a request that does not fit is refused with a reason, before any generator runs",
          "[unit][tuning][registry]") {
  const auto unfit = [](Algorithm a, tuning::ScheduleRequest q) { return tuning::scheduleUnfit(a, q); };
  CHECK(unfit(Algorithm::Ring, {Collective::Allreduce, 1, 4, 0, 8, 2, {}}).empty());
  CHECK(unfit(Algorithm::Ring, {Collective::Broadcast, 0, 4, 0, 8, 2, {}}) == "broadcast has no ring schedule");
  CHECK(unfit(Algorithm::RecursiveDoubling, {Collective::Allgather, 0, 3, 0, 8, 2, {}}) ==
        "allgather recursive-doubling needs a power-of-two rank count, not 3");
  CHECK_THAT(unfit(Algorithm::SharedMemory, {Collective::Allreduce, 0, 4, 0, 8, 2, {}}),
             Catch::Contains("shared-memory engine"));
  CHECK_THAT(unfit(Algorithm::Pairwise, {Collective::Alltoallv, 0, 4, 0, 8, 2, {}}),
             Catch::Contains("plans it per call"));
  CHECK(unfit(Algorithm::Ring, {Collective::Allreduce, 4, 4, 0, 8, 2, {}}) == "rank 4 of 4 ranks");
  CHECK(unfit(Algorithm::Chain, {Collective::Broadcast, 0, 4, 4, 8, 2, {}}) == "root 4 of 4 ranks");
  CHECK(unfit(Algorithm::Ring, {Collective::Allreduce, 0, 4, 0, 8, 0, {}}) == "a slice of 0 elements");
  CHECK(unfit(Algorithm::Hierarchical, {Collective::Allreduce, 0, 4, 0, 8, 2, {0, 0, 1}}) ==
        "3 host entries for 4 ranks");
  CHECK_THAT(errorOf(
                 [] {
                   tuning::generateSchedule(Algorithm::Ring, {Collective::Allreduce, 4, 4, 0, 8, 2, {}});
                 },
                 banyan::ErrorCode::Internal),
             Catch::Contains("no ring schedule for this call: rank 4 of 4 ranks"));
}
