// A forced algorithm on one host (issue 4): the shared-memory engine takes allreduce and
// allgather by default, but a BANYAN_ALGO band wins over it and its schedule really runs over the
// transport. Proved three ways on 1 host x 4 ranks: the exact results, the INFO log naming the
// band, and the flight recorder's record of what each call ran ("algorithm": "ring" rather
// than "shm"). Also: "shm" is a name a band can force, and is refused by name where the
// communicator has no engine.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

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
using banyan::test::occurrences;
using banyan::test::over;
using banyan::test::readFile;
using banyan::test::runRanks;

namespace {

constexpr int kRanks = 4;

// What one job on 1 host x 4 ranks over the default transport (shared memory with its engine)
// logged on rank 0 and recorded in rank 0's flight recorder dump.
struct Evidence {
  std::string log;
  std::string flight;
};

// Runs one small (256 B) and one large (1 MiB) allreduce, and allgathers of 4 B and 16 KiB blocks; checks every result
// exactly, and asks for a flight recorder dump (SIGUSR1) before closing.
Evidence runJob(const std::string& algo) {
  const std::string dir = makeTempDir("banyan-forced");
  bootstrap::LaunchOptions options = over("shm");
  if (!algo.empty()) options.environment["BANYAN_ALGO"] = algo;
  options.environment["BANYAN_DEBUG"] = "info";
  options.environment["BANYAN_DEBUG_SUBSYS"] = "tuning";
  options.environment["BANYAN_FLIGHT_RECORDER"] = dir + "/fr-%r.json";
  runRanks(
      kRanks,
      [&](int rank) {
        RANK_EXPECT(rank, std::freopen(rank == 0 ? (dir + "/rank0.log").c_str() : "/dev/null", "w", stderr) != nullptr);
        auto comm = Communicator::fromEnvironment();
        for (const std::size_t count : {std::size_t{64}, std::size_t{256} * 1024}) {
          std::vector<float> data(count);
          for (std::size_t i = 0; i < count; ++i) data[i] = static_cast<float>(rank * 7 + i % 1000);
          comm.allreduce(data.data(), count, DataType::f32, ReduceOp::sum);
          for (std::size_t i = 0; i < count; ++i) {
            // sum over r of (7 r + i % 1000) = 7 (0 + 1 + 2 + 3) + 4 (i % 1000)
            RANK_EXPECT(rank, data[i] == static_cast<float>(42 + kRanks * (i % 1000)));
          }
          // Blocks under the engine's direct-read threshold (64 KiB), which it takes either way.
          std::vector<float> block(count / 64), all(count / 64 * kRanks);
          for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<float>(rank * 100000 + i);
          comm.allgather(block.data(), all.data(), block.size(), DataType::f32);
          for (int r = 0; r < kRanks; ++r) {
            for (std::size_t i = 0; i < block.size(); ++i) {
              RANK_EXPECT(rank, all[r * block.size() + i] == static_cast<float>(r * 100000 + i));
            }
          }
        }
        std::fflush(stderr);
        if (rank == 0) {
          const std::string dump = dir + "/fr-0.json";
          kill(getpid(), SIGUSR1);
          const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          while (!fileExists(dump) && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
          RANK_EXPECT(rank, fileExists(dump));
          // The dump is renamed into place whole (flight_recorder.hpp): complete once seen.
        }
        comm.barrier();  // the others stay until rank 0 has its dump
        return 0;
      },
      options);
  Evidence evidence{readFile(dir + "/rank0.log"), readFile(dir + "/fr-0.json")};
  banyan::test::runShell("rm -rf " + dir);
  return evidence;
}

}  // namespace

TEST_CASE("one host x 4: a forced BANYAN_ALGO runs its schedule, not the shared-memory engine",
          "[multiproc][topology]") {
  const Evidence e = runJob("allreduce:0-:ring;allgather:0-:bruck");
  INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
  CHECK_THAT(e.log, Catch::Contains("allreduce of 256 B per rank uses ring (BANYAN_ALGO band 0- B)"));
  CHECK_THAT(e.log, Catch::Contains("allgather of 4 B per rank uses bruck (BANYAN_ALGO band 0- B)"));
  CHECK(e.log.find("uses shm") == std::string::npos);
  // Four calls, each recorded with the schedule that ran it.
  CHECK(occurrences(e.flight, "\"algorithm\": \"ring\"") == 2);
  CHECK(occurrences(e.flight, "\"algorithm\": \"bruck\"") == 2);
  CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 0);
}

TEST_CASE("one host x 4: unforced sizes go to the engine, a band moves only its own sizes",
          "[multiproc][topology]") {
  SECTION("no BANYAN_ALGO: every call in the engine, logged as shm") {
    const Evidence e = runJob("");
    INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
    CHECK_THAT(e.log, Catch::Contains("allreduce of 256 B per rank uses shm (one host)"));
    CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 4);
  }
  SECTION("a band for small allreduces only") {
    const Evidence e = runJob("allreduce:0-4K:recursive-doubling");
    INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
    CHECK_THAT(e.log, Catch::Contains("uses recursive-doubling (BANYAN_ALGO band 0-4096 B)"));
    CHECK(occurrences(e.flight, "\"algorithm\": \"recursive-doubling\"") == 1);
    CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 3);
  }
  SECTION("shm forced by name") {
    const Evidence e = runJob("allreduce:0-:shm;allgather:0-:shm");
    INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
    CHECK_THAT(e.log, Catch::Contains("uses shm (BANYAN_ALGO band 0- B)"));
    CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 4);
  }
}

TEST_CASE("forcing shm where the communicator has no engine is refused by name", "[multiproc][topology]") {
  bootstrap::LaunchOptions options = over("shm-messages");  // BANYAN_SHM_COLLECTIVES=0
  options.environment["BANYAN_ALGO"] = "allgather:0-:shm";
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_TIMEOUT"] = "20s";
  runRanks(
      2,
      [](int rank) {
        try {
          Communicator::fromEnvironment();
        } catch (const Error& e) {
          const std::string what = e.what();
          RANK_EXPECT(rank, e.code() == ErrorCode::InvalidUsage);
          RANK_EXPECT(rank, what.find("BANYAN_ALGO forces shm for allgather: this communicator has no "
                                      "shared-memory engine (BANYAN_SHM_COLLECTIVES=0)") != std::string::npos);
          return 0;
        }
        std::fprintf(stderr, "rank %d: a forced shm band was accepted without the engine\n", rank);
        return 1;
      },
      options);
}
