// BANYAN_TUNE_FILE on 1 host x 4 ranks (issue 4): the measured table's choice really runs
// (exact results, the INFO line naming the table's line, the flight recorder's record of each
// call's algorithm), a table of another layout is ignored with an INFO line saying why, and
// ranks that hold different tables, or a broken one, fail at creation naming the problem
// instead of running different schedules for one call.

#include <fmt/format.h>
#include <banyan/banyan.hpp>
#include <cstdio>
#include <functional>
#include <string>

#include "support/files.hpp"
#include "support/multiproc.hpp"
#include "support/one_host_job.hpp"
#include "support/shell.hpp"
#include "tuning/tune_table.hpp"

using namespace banyan;
using banyan::test::fileExists;
using banyan::test::makeTempDir;
using banyan::test::occurrences;
using banyan::test::over;
using banyan::test::readFile;
using banyan::test::runRanks;
using banyan::test::writeFile;

namespace {

constexpr int kRanks = 4;

using Evidence = banyan::test::OneHostEvidence;

// One job with the table `table` as its BANYAN_TUNE_FILE.
Evidence runJob(const std::string& table) {
  const std::string dir = makeTempDir("banyan-tune");
  writeFile(dir + "/table.tune", table);
  return banyan::test::runOneHostJob(dir, {{"BANYAN_TUNE_FILE", dir + "/table.tune"}});
}

// Every rank expects Communicator::fromEnvironment() to throw InvalidUsage containing `expected`
// (rank 0's verdict reaches every rank, not only the ones that differ);
// `prepare` runs first in each rank's process (to give ranks different environments).
void expectRefusal(const std::function<void(int rank, const std::string& dir)>& prepare, const std::string& expected) {
  const std::string dir = makeTempDir("banyan-tune");
  bootstrap::LaunchOptions options = over("shm");
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_TIMEOUT"] = "20s";  // not reached: every rank hears the verdict
  runRanks(
      kRanks,
      [&](int rank) {
        prepare(rank, dir);
        try {
          Communicator::fromEnvironment();
        } catch (const Error& e) {
          RANK_EXPECT(rank, e.code() == ErrorCode::InvalidUsage);
          RANK_EXPECT(rank, std::string(e.what()).find(expected) != std::string::npos);
          if (std::string(e.what()).find(expected) == std::string::npos)
            std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
          return 0;
        }
        std::fprintf(stderr, "rank %d: creation succeeded, expected '%s'\n", rank, expected.c_str());
        return 1;
      },
      options);
  banyan::test::runShell("rm -rf " + dir);
}

}  // namespace

TEST_CASE("one host x 4: the tuning table's choice runs where it covers, the engine elsewhere",
          "[multiproc][topology]") {
  // 256 B allreduce -> ring (line 3), 1 MiB -> rabenseifner (line 4); 4 B allgather blocks ->
  // bruck (line 5); 16 KiB blocks are not covered and go to the shared-memory engine.
  const Evidence e = runJob(
      "# hand-written for the test\n"
      "layout 1x4\n"
      "allreduce 0-1K ring\n"
      "allreduce 1K-2M rabenseifner\n"
      "allgather 0-1K bruck\n");
  INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
  CHECK_THAT(e.log, Catch::Contains("table.tune: 3 measured bands for layout 1x4"));
  CHECK_THAT(e.log, Catch::Contains("allreduce of 256 B per rank uses ring (table line 3)"));
  CHECK_THAT(e.log, Catch::Contains("allreduce of 1048576 B per rank uses rabenseifner (table line 4)"));
  CHECK_THAT(e.log, Catch::Contains("allgather of 4 B per rank uses bruck (table line 5)"));
  CHECK_THAT(e.log, Catch::Contains("allgather of 16384 B per rank uses shm (one host)"));
  CHECK(occurrences(e.flight, "\"algorithm\": \"ring\"") == 1);
  CHECK(occurrences(e.flight, "\"algorithm\": \"rabenseifner\"") == 1);
  CHECK(occurrences(e.flight, "\"algorithm\": \"bruck\"") == 1);
  CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 1);
}

TEST_CASE("one host x 4: a table of another layout is ignored, saying why", "[multiproc][topology]") {
  const Evidence e = runJob("layout 2x2\nallreduce 0-2M ring\nallgather 0-1M ring\n");
  INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
  CHECK_THAT(e.log, Catch::Contains("BANYAN_TUNE_FILE ignored: ") &&
                        Catch::Contains("was measured on 2x2 (hosts x ranks per host), this communicator is 1x4"));
  CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 4);
  CHECK(occurrences(e.flight, "\"algorithm\": \"ring\"") == 0);
}

TEST_CASE("ranks with different tables, or a broken one, fail at creation", "[multiproc][topology]") {
  SECTION("rank 3 holds a different table") {
    expectRefusal(
        [](int rank, const std::string& dir) {
          const std::string path = fmt::format("{}/t{}.tune", dir, rank);
          writeFile(path, rank == 3 ? "layout 1x4\nallreduce 0-1K rd\n" : "layout 1x4\nallreduce 0-1K ring\n");
          setenv("BANYAN_TUNE_FILE", path.c_str(), 1);
        },
        "BANYAN_TUNE_FILE differs between ranks: rank 0 has table ");
  }
  SECTION("rank 2 has none") {
    expectRefusal(
        [](int rank, const std::string& dir) {
          writeFile(dir + "/t.tune", "layout 1x4\nallreduce 0-1K ring\n");
          if (rank != 2) setenv("BANYAN_TUNE_FILE", (dir + "/t.tune").c_str(), 1);
        },
        "rank 2 has no BANYAN_TUNE_FILE");
  }
  SECTION("a malformed table names its line") {
    expectRefusal(
        [](int, const std::string& dir) {
          writeFile(dir + "/bad.tune", "layout 1x4\nallreduce 0-1K ring\nallgather 0-1K tree\n");
          setenv("BANYAN_TUNE_FILE", (dir + "/bad.tune").c_str(), 1);
        },
        "bad.tune:3: allgather has no algorithm 'tree'");
  }
}

TEST_CASE("banyan-algo-compare --tune-out writes a table per collective into one file", "[multiproc][topology]") {
  const std::string dir = makeTempDir("banyan-tune");
  const std::string tool = std::string(BANYAN_BUILD_DIR) + "/tools/banyan-algo-compare";
  const std::string table = dir + "/job.tune";
  for (const char* collective : {"allreduce", "allgather", "allreduce"}) {  // the second allreduce replaces the first
    const auto [status, output] = banyan::test::runShell(
        fmt::format("BANYAN_TIMEOUT=60s timeout 300 {} {} -np 2 --sizes 64,64K --repeats 1 --tune-out {} 2>&1", tool,
                    collective, table));
    INFO(output);
    REQUIRE(status == 0);
  }
  INFO(readFile(table));
  const banyan::tuning::TuneTable parsed = banyan::tuning::loadTuneTable(table);
  CHECK(parsed.hosts == 1);
  CHECK(parsed.ranksPerHost == 2);
  // Two measured sizes per collective; bands meet at the geometric midpoint and stop at twice
  // the largest (allreduce: 64 B and 64 KiB buffers; allgather: 32 B and 32 KiB blocks).
  REQUIRE(parsed.entries.size() == 4);
  CHECK(parsed.find(banyan::Collective::Allreduce, 0) != nullptr);
  const auto* large = parsed.find(banyan::Collective::Allreduce, 4096);
  REQUIRE(large != nullptr);
  CHECK(large->band.high == 128 * 1024);
  CHECK(parsed.find(banyan::Collective::Allreduce, 128 * 1024) == nullptr);
  const auto* blocks = parsed.find(banyan::Collective::Allgather, 32 * 1024);
  REQUIRE(blocks != nullptr);
  CHECK(blocks->band.high == 64 * 1024);
  CHECK(occurrences(readFile(table), "# allreduce:") == 1);
  // A table of another layout is not overwritten.
  writeFile(table, "layout 2x2\nallreduce 0-1K ring\n");
  const auto [status, output] = banyan::test::runShell(fmt::format(
      "BANYAN_TIMEOUT=60s timeout 300 {} allreduce -np 2 --sizes 64 --repeats 1 --tune-out {} 2>&1", tool, table));
  CHECK(status != 0);
  CHECK_THAT(output, Catch::Contains("holds a table for layout 2x2, this job is 1x2"));
  banyan::test::runShell("rm -rf " + dir);
}
