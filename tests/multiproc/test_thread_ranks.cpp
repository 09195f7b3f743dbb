// Many ranks as threads (tools/thread_ranks, issue 19): every rank its own Communicator over
// loopback TCP and its own store connection, the store served by this process, the ranks split
// over forked processes. A real allreduce is checked on every rank.
//
// 256 ranks here (two processes of 128: ~15-25 s on this loaded 2-core machine, most of it in
// closing); 1024-4096 are opt-in, `[.thread-ranks-large]` or banyan-thread-ranks (docs/testing.md).

#include "tools/thread_ranks/thread_ranks.hpp"

#include <banyan/error.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

namespace {

banyan::tools::ThreadRankReport run(int ranks, int processes) {
  banyan::tools::raiseFileLimit(banyan::tools::filesNeeded((ranks + processes - 1) / processes));
  banyan::tools::ThreadRankRun run;
  run.ranks = ranks;
  run.processes = processes;
  run.count = 3;
  run.timeout = std::chrono::seconds(120);
  return banyan::tools::runThreadRanks(run);
}

void checkRun(const banyan::tools::ThreadRankReport& report, int ranks) {
  INFO(
      fmt::format("{} ranks: created in {:.2f} s, first allreduce {:.2f} s, closed in {:.2f} s; {:.1f} fds, "
                  "{:.0f} KiB per rank",
                  ranks, report.createSeconds, report.firstAllreduceSeconds, report.closeSeconds, report.fdsPerRank,
                  report.peakKibPerRank));
  for (const auto& error : report.errors) UNSCOPED_INFO(error);
  REQUIRE(report.errors.empty());
  CHECK(report.wrongResults == 0);
}

}  // namespace

TEST_CASE("256 thread-ranks in two processes each make a communicator and allreduce right", "[thread-ranks][scale]") {
  const auto small = run(8, 2);
  checkRun(small, 8);
  const auto large = run(256, 2);
  checkRun(large, 256);
  // Creation's store requests do not grow with the ranks (rank 0 reads one key per other rank).
  CHECK(large.storeRequestsMax == small.storeRequestsMax);
  CHECK(large.storeRequestsRankZero - small.storeRequestsRankZero == 256 - 8);
  // Descriptors per rank do not grow with the ranks either, beyond one connection per round
  // of the allreduce: a pidfd per peer (the old PeerLiveness) made this ~270 at 256 ranks.
  CHECK(large.fdsPerRank < small.fdsPerRank + 8);
}

TEST_CASE("thread-ranks refuse counts that cannot run", "[thread-ranks]") {
  banyan::tools::ThreadRankRun bad;
  bad.ranks = 4;
  bad.processes = 5;
  REQUIRE_THROWS_WITH(banyan::tools::runThreadRanks(bad), Catch::Contains("5 processes for 4 ranks"));
  bad.ranks = 0;
  REQUIRE_THROWS_WITH(banyan::tools::runThreadRanks(bad), Catch::Contains("0 ranks"));
}

TEST_CASE("1024 to 4096 thread-ranks make communicators and allreduce right", "[.thread-ranks-large]") {
  const int ranks = GENERATE(1024, 2048, 4096);
  // ~1000 thread-ranks per process: this machine's hard RLIMIT_NOFILE is 20000 (thread_ranks.hpp).
  checkRun(run(ranks, ranks / 512), ranks);
}
