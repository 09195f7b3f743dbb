// The two-level hierarchical allreduce, checked symbolically for 1..64 ranks on several host
// layouts: consecutive ranks per host (1, 2, 3 and 4 per host, the last host partly filled),
// ranks dealt round-robin over 2 and 3 hosts, and everyone on one host.

#include "algorithms/hierarchical.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <functional>

using namespace banyan::algorithms;

namespace {

using Layout = std::function<int(int rank, int size)>;
// Which collective a layout sweep checks: checkAllreduce or checkAllgather with the schedule.
enum class Kind { Allreduce, Allgather };

// Checks the hierarchical `kind` symbolically for every size of `sizes` with ranks placed on
// hosts by `layout`, at each count of `counts` (the checker's seeds differ per kind).
void checkLayout(Kind kind, const Layout& layout, const std::vector<int>& sizes, const std::vector<std::size_t>& counts,
                 std::size_t slice) {
  for (int size : sizes) {
    std::vector<int> hosts(static_cast<std::size_t>(size));
    for (int r = 0; r < size; ++r) hosts[static_cast<std::size_t>(r)] = layout(r, size);
    for (std::size_t count : counts) {
      CheckOptions options;
      options.seed = static_cast<std::uint64_t>(size) * (kind == Kind::Allreduce ? 97 : 89) + count;
      options.runs = 1;
      const std::string defect =
          kind == Kind::Allreduce
              ? checkAllreduce(
                    size, count, [&](int rank) { return hierarchicalAllreduce(rank, hosts, count, slice); }, options)
              : checkAllgather(
                    size, count, [&](int rank) { return hierarchicalAllgather(rank, hosts, count, slice); }, options);
      INFO("size " << size << ", count " << count << ", slice " << slice);
      REQUIRE(defect.empty());
    }
  }
}

}  // namespace

TEST_CASE("hierarchical allreduce is exact with consecutive ranks per host", "[schedule]") {
  const auto sizes = banyan::test::sizesUpTo(64);
  for (int perHost : {1, 2, 3, 4}) {
    INFO(perHost << " rank(s) per host");
    checkLayout(
        Kind::Allreduce, [perHost](int r, int) { return r / perHost; }, sizes, {0, 1, 7}, 2);
  }
}

TEST_CASE("hierarchical allreduce is exact with ranks dealt round-robin and on one host", "[schedule]") {
  const auto sizes = banyan::test::sizesUpTo(24);
  checkLayout(
      Kind::Allreduce, [](int r, int) { return r % 2; }, sizes, {1, 5, 33}, 4);
  checkLayout(
      Kind::Allreduce, [](int r, int) { return (r * 7) % 3; }, sizes, {3, 16}, 3);
  checkLayout(
      Kind::Allreduce, [](int, int) { return 0; }, sizes, {1, 9}, 4);
}

TEST_CASE("hierarchical allreduce sends across hosts only from leaders", "[schedule]") {
  const std::vector<int> hosts{0, 0, 1, 1};
  for (int rank = 0; rank < 4; ++rank) {
    const Schedule schedule = hierarchicalAllreduce(rank, hosts, 100, 10);
    for (const Step& step : schedule.steps) {
      if (step.kind != StepKind::Send && step.kind != StepKind::Recv) continue;
      const bool remote = hosts[static_cast<std::size_t>(step.peer)] != hosts[static_cast<std::size_t>(rank)];
      INFO("rank " << rank << ": " << describeStep(step, 0));
      CHECK((!remote || rank == 0 || rank == 2));
    }
  }
  // A local sends its vector once and receives the result.
  const Schedule local = hierarchicalAllreduce(1, hosts, 100, 100);
  REQUIRE_FALSE(local.steps.empty());
  CHECK(local.steps[0].kind == StepKind::Send);
  CHECK(local.steps[0].peer == 0);
  CHECK(local.steps[0].a.count == 100);
}

TEST_CASE("hierarchical allgather is exact for 1..64 ranks on several host layouts", "[schedule]") {
  const auto sizes = banyan::test::sizesUpTo(64);
  for (int perHost : {1, 2, 3, 4}) {
    INFO(perHost << " rank(s) per host");
    checkLayout(
        Kind::Allgather, [perHost](int r, int) { return r / perHost; }, sizes, {0, 1, 7}, 3);
  }
  const auto fewer = banyan::test::sizesUpTo(24);
  checkLayout(
      Kind::Allgather, [](int r, int) { return r % 2; }, fewer, {1, 5}, 2);
  checkLayout(
      Kind::Allgather, [](int r, int) { return (r * 7) % 3; }, fewer, {3, 16}, 16);
  checkLayout(
      Kind::Allgather, [](int, int) { return 0; }, fewer, {1, 9}, 4);
}

TEST_CASE("hierarchical allgather crosses hosts only between leaders, each host's blocks once", "[schedule]") {
  const std::vector<int> hosts{0, 0, 1, 1};
  std::size_t crossing = 0;
  for (int rank = 0; rank < 4; ++rank) {
    const Schedule schedule = hierarchicalAllgather(rank, hosts, 100, 100);
    for (const Step& step : schedule.steps) {
      if (step.kind != StepKind::Send) continue;
      if (hosts[static_cast<std::size_t>(step.peer)] == hosts[static_cast<std::size_t>(rank)]) continue;
      INFO("rank " << rank << ": " << describeStep(step, 0));
      CHECK((rank == 0 || rank == 2));
      crossing += step.a.count;
    }
  }
  // Each host sends its own two blocks across, against three per crossing rank in a flat ring.
  CHECK(crossing == 2 * 2 * 100);
}
