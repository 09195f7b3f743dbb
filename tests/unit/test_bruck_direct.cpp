// Bruck's rounds straight into place (bruck_direct.hpp), checked symbolically for every rank
// count up to 64 and a spread of larger ones, powers of two and not.

#include "algorithms/bruck_direct.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

using namespace banyan::algorithms;
using banyan::test::expectExactForAll;
using banyan::test::sizesUpTo;

namespace {

int countOf(const Schedule& schedule, StepKind kind) {
  int found = 0;
  for (const Step& step : schedule.steps) found += step.kind == kind ? 1 : 0;
  return found;
}

const std::vector<int> kLarger{96, 100, 127, 128, 129, 200, 255, 256, 257};

}  // namespace

TEST_CASE("direct Bruck allgather is exact for every rank count", "[schedule][bruck-direct]") {
  expectExactForAll(checkAllgather, sizesUpTo(64), {0, 1, 3}, 23, bruckDirectAllgather);
  expectExactForAll(checkAllgather, kLarger, {2}, 29, bruckDirectAllgather);
}

TEST_CASE("direct Bruck reduce-scatter is exact for every rank count", "[schedule][bruck-direct]") {
  expectExactForAll(checkReduceScatter, sizesUpTo(64), {0, 1, 3}, 31, bruckDirectReduceScatter);
  expectExactForAll(checkReduceScatter, kLarger, {2}, 37, bruckDirectReduceScatter);
}

TEST_CASE("direct Bruck takes ceil(log2 n) rounds and no scratch for the allgather", "[schedule][bruck-direct]") {
  // 5 ranks: rounds at distance 1, 2, 4 moving 1, 2, 1 blocks. Rank 4's run of 2 wraps (blocks
  // 4, 0): two messages in that round; rank 1's (1, 2) does not.
  CHECK(countOf(bruckDirectAllgather(1, 5, 10), StepKind::Send) == 3);
  CHECK(countOf(bruckDirectAllgather(4, 5, 10), StepKind::Send) == 4);
  CHECK(bruckDirectAllgather(4, 5, 10).scratchCount == 0);
  for (const int size : {1000, 1024, 65536, 65537}) {
    int rounds = 0;
    while ((1 << rounds) < size) ++rounds;
    const Schedule s = bruckDirectAllgather(size / 3, size, 1);
    CHECK(countOf(s, StepKind::Send) >= rounds);
    CHECK(countOf(s, StepKind::Send) <= rounds + 1);  // at most one round's run wraps
  }
  // Reduce-scatter on 8 ranks: rounds of 4, 2, 1 blocks; 4 blocks of partial sums and a
  // receive area of 2: 3/4 of the input, as recursive halving.
  const Schedule rs = bruckDirectReduceScatter(5, 8, 10);
  CHECK(rs.scratchCount == 6 * 10);
  CHECK(countOf(rs, StepKind::Reduce) >= 3);
  // 1000 ranks: 10 rounds, scratch below the input's size.
  const Schedule big = bruckDirectReduceScatter(7, 1000, 4);
  CHECK(big.scratchCount < 1000 * 4);
  CHECK(countOf(big, StepKind::Recv) <= 10 + 2);
}
