// Logging in a real job: every line carries host, pid, rank, communicator and subsystem; INFO
// says once per communicator which transport reaches each peer, the topology and the algorithm
// table; BANYAN_DEBUG_SUBSYS narrows INFO lines but never hides a warning.

#include <unistd.h>

#include <banyan/banyan.hpp>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/multiproc.hpp"

using namespace banyan;
using banyan::test::makeTempDir;
using banyan::test::over;
using banyan::test::readFile;
using banyan::test::runRanks;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Runs two ranks with `subsystems` (empty: unset); returns rank 0's stderr and rank 1's pid.
std::string logOfRankZero(const std::string& subsystems) {
  const std::string dir = makeTempDir("banyan-log");
  const std::string path = dir + "/rank0.log";
  bootstrap::LaunchOptions options = over("tcp");
  options.environment["BANYAN_DEBUG"] = "info";
  if (!subsystems.empty()) options.environment["BANYAN_DEBUG_SUBSYS"] = subsystems;
  runRanks(
      2,
      [&](int) {
        // Before anything logs: this rank's stderr goes to a file the test reads.
        // (Rank 1's goes nowhere: it would only fill the test's output.)
        const bool first = std::getenv("BANYAN_RANK") != nullptr && std::string(std::getenv("BANYAN_RANK")) == "0";
        RANK_EXPECT(first ? 0 : 1, std::freopen(first ? path.c_str() : "/dev/null", "w", stderr) != nullptr);
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(8, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        std::fflush(stderr);
        return 0;
      },
      options);
  const std::string text = readFile(path);
  std::remove(path.c_str());
  rmdir(dir.c_str());
  return text;
}

}  // namespace

TEST_CASE("INFO logs say per communicator the transports, the topology and the algorithm table",
          "[multiproc][observe]") {
  const std::string text = logOfRankZero("");
  INFO(text);
  REQUIRE(!text.empty());
  // Every line has the full prefix: host:pid, rank, communicator, level, subsystem.
  std::istringstream lines(text);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    INFO(line);
    CHECK(line.rfind("banyan ", 0) == 0);
    CHECK((contains(line, " r0 c0 INFO ") || contains(line, " r0 c- INFO bootstrap: ")));
  }
  CHECK(count >= 5);
  CHECK(contains(text, "INFO init: topology: 1 host: [0-1]"));
  CHECK(contains(text, "r0 c- INFO bootstrap: job found through BANYAN_* variables: rank 0 of 2"));
  CHECK(contains(text, "INFO transport: transports per peer: tcp to rank 1"));
  // The table is the communicator's own selection (the cost model over the measured topology),
  // so where allreduce switches depends on the probe; the switch must be exact (n, then n + 1).
  std::smatch table;
  REQUIRE(std::regex_search(text, table,
                            std::regex(R"(INFO tuning: algorithms by bytes: allreduce: 0-(\d+) B )"
                                       R"(recursive-doubling, (\d+) B and up ring)")));
  CHECK(std::stoull(table[2].str()) == std::stoull(table[1].str()) + 1);
  CHECK(contains(text, "INFO tuning: algorithms by bytes: barrier: dissemination"));
  CHECK(contains(text, "INFO tuning: communicator 0: allreduce of 32 B per rank uses recursive-doubling"));
}

TEST_CASE("BANYAN_DEBUG_SUBSYS keeps only the INFO lines of the subsystems named", "[multiproc][observe]") {
  const std::string onlyTransport = logOfRankZero("transport");
  INFO(onlyTransport);
  CHECK(contains(onlyTransport, "INFO transport: transports per peer"));
  CHECK(!contains(onlyTransport, "INFO tuning"));
  CHECK(!contains(onlyTransport, "INFO init"));
  const std::string allButTuning = logOfRankZero("^tuning");
  INFO(allButTuning);
  CHECK(contains(allButTuning, "INFO init: topology"));
  CHECK(!contains(allButTuning, "INFO tuning"));
}
