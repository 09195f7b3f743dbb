// The flight recorder in a real job: a staged hang (one rank skips a collective) leaves dumps
// from every rank (timeouts on the waiting ranks, SIGUSR1 on the absent one), and
// tools/banyan-flight reads them and names the rank that is behind and what the others wait in.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <banyan/banyan.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/files.hpp"
#include "support/multiproc.hpp"
#include "support/shell.hpp"

using namespace banyan;
using banyan::test::fileExists;
using banyan::test::makeTempDir;
using banyan::test::over;
using banyan::test::readFile;
using banyan::test::runRanks;
using banyan::test::runShell;

namespace {

const std::string kTool = std::string(BANYAN_SOURCE_DIR) + "/tools/banyan-flight";

}  // namespace

TEST_CASE("a staged hang: the flight recorder dumps name the rank that never entered", "[multiproc][observe]") {
  // Shared memory runs allreduce in its own engine and TCP as a schedule; both must record.
  const std::string transport = GENERATE(as<std::string>{}, "tcp", "shm");
  const std::string dir = makeTempDir("banyan-flight");
  bootstrap::LaunchOptions options = over(transport);
  options.environment["BANYAN_TIMEOUT"] = "2s";
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_FLIGHT_RECORDER"] = dir + "/flight-%r.json";
  constexpr int kRanks = 4, kLagging = 2, kCalls = 5;
  runRanks(
      kRanks,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(1024, 1.0f);
        const int calls = comm.rank() == kLagging ? kCalls - 1 : kCalls;
        for (int i = 1; i <= calls; ++i) {
          try {
            comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
          } catch (const Error& error) {
            // Only the last call can fail: the waiting ranks' timeout, or a peer's failure
            // reaching them first.
            RANK_EXPECT(comm.rank(), i == kCalls && comm.rank() != kLagging);
          }
        }
        if (comm.rank() != kLagging) {
          RANK_EXPECT(comm.rank(), fileExists(dir + "/flight-" + std::to_string(comm.rank()) + ".json"));
          return 0;
        }
        // The lagging rank is alive and busy elsewhere: its dump comes from SIGUSR1, as an
        // operator would ask for it, after the others have timed out.
        std::this_thread::sleep_for(std::chrono::seconds(3));
        kill(getpid(), SIGUSR1);
        const std::string mine = dir + "/flight-2.json";
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!fileExists(mine) && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        RANK_EXPECT(comm.rank(), fileExists(mine));
        return 0;
      },
      options);

  for (int r = 0; r < kRanks; ++r) {
    const std::string text = readFile(dir + "/flight-" + std::to_string(r) + ".json");
    INFO("rank " << r << " dump:\n" << text);
    CHECK_THAT(text, Catch::Contains("\"format\": \"banyan-flight-recorder\""));
    CHECK_THAT(text, Catch::Contains(r == kLagging ? "\"reason\": \"SIGUSR1\"" : "\"last_queued\": 5"));
  }
  const auto [status, output] = runShell(kTool + " " + dir);
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("rank 2 never entered allreduce #5 (count=1024, f32, sum)"));
  CHECK_THAT(output, Catch::Contains("ranks 0-1,3 wait for it"));
  CHECK_THAT(output, Catch::Contains("its last call: allreduce #4 (count=1024, f32, sum), done"));
  runShell("rm -rf " + dir);
}

TEST_CASE("close() with work pending writes the flight recorder dump, and the tool names the absent rank",
          "[multiproc][observe]") {
  const std::string dir = makeTempDir("banyan-flight");
  bootstrap::LaunchOptions options = over("tcp");
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_FLIGHT_RECORDER"] = dir + "/fr.json";  // no %r: ".r<rank>" is added
  runRanks(
      2,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(16, 1.0f);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        if (comm.rank() == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          return 0;  // exits without a dump: nothing failed here, and nobody signals it
        }
        Work work = comm.broadcastAsync(data.data(), data.size(), DataType::f32, 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        comm.close();
        RANK_EXPECT(0, work.test() && work.error() && work.error()->code() == ErrorCode::Aborted);
        RANK_EXPECT(0, fileExists(dir + "/fr.json.r0") && !fileExists(dir + "/fr.json.r1"));
        return 0;
      },
      options);
  const std::string text = readFile(dir + "/fr.json.r0");
  INFO(text);
  CHECK_THAT(text, Catch::Contains("\"reason\": \"Aborted: communicator"));
  CHECK_THAT(text, Catch::Contains("\"kind\": \"broadcast\""));
  CHECK_THAT(text, Catch::Contains("root=1"));
  const auto [status, output] = runShell(kTool + " " + dir);
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("no dump from rank 1"));
  CHECK_THAT(output, Catch::Contains("rank 0 waits in broadcast #2"));
  runShell("rm -rf " + dir);
}

TEST_CASE("a send never received: the dump holds it and the tool says the peer never posted the receive",
          "[multiproc][observe]") {
  const std::string dir = makeTempDir("banyan-flight");
  bootstrap::LaunchOptions options = over("tcp");
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_TIMEOUT"] = "2s";
  options.environment["BANYAN_FLIGHT_RECORDER"] = dir + "/fr-%r.json";
  runRanks(
      2,
      [&](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> data(256 * 1024, 1.0f);  // 1 MiB: above the eager limit, it waits for its receive
        comm.barrier();
        if (comm.rank() == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(3));
          kill(getpid(), SIGUSR1);  // dumps: it has done nothing wrong, only nothing at all
          const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!fileExists(dir + "/fr-1.json") && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          RANK_EXPECT(1, fileExists(dir + "/fr-1.json"));
          return 0;
        }
        try {
          comm.send(data.data(), data.size(), DataType::f32, 1, 7);
          RANK_EXPECT(0, false);  // nobody receives: it must time out
        } catch (const Error& error) {
          RANK_EXPECT(0, error.code() == ErrorCode::Timeout);
        }
        RANK_EXPECT(0, fileExists(dir + "/fr-0.json"));
        return 0;
      },
      options);
  const std::string text = readFile(dir + "/fr-0.json");
  INFO(text);
  CHECK_THAT(text, Catch::Contains("\"op\": \"send\", \"peer\": 1, \"tag\": 7, \"bytes\": 1048576"));
  CHECK_THAT(text, Catch::Contains("\"state\": \"failed\""));
  const auto [status, output] = runShell(kTool + " " + dir);
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("rank 0's send #1 to rank 1 (tag 7, 1048576 B, f32) did not complete: rank 1 "
                                     "never posted a receive from rank 0 with tag 7"));
  runShell("rm -rf " + dir);
}
