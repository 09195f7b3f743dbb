#pragma once
// A job on 1 host x 4 ranks over the default transport (shared memory with its engine), used to
// check which algorithm really ran under a given setting (BANYAN_ALGO, BANYAN_TUNE_FILE): what
// rank 0 logged (tuning subsystem, INFO) and what its flight recorder dumped.

#include <signal.h>
#include <unistd.h>

#include <banyan/banyan.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "support/files.hpp"
#include "support/multiproc.hpp"
#include "support/shell.hpp"

namespace banyan::test {

constexpr int kOneHostRanks = 4;

struct OneHostEvidence {
  std::string log;     // rank 0's stderr
  std::string flight;  // rank 0's flight recorder dump (JSON)
};

// Runs one small (256 B) and one large (1 MiB) allreduce, and allgathers of 4 B and 16 KiB
// blocks, with `environment` added; checks every result exactly, and asks for a flight recorder
// dump (SIGUSR1) before closing. `dir` is a directory the test made; it is removed afterwards.
inline OneHostEvidence runOneHostJob(const std::string& dir, const std::map<std::string, std::string>& environment) {
  constexpr int kRanks = kOneHostRanks;
  bootstrap::LaunchOptions options = over("shm");
  for (const auto& [name, value] : environment) options.environment[name] = value;
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
  OneHostEvidence evidence{readFile(dir + "/rank0.log"), readFile(dir + "/fr-0.json")};
  runShell("rm -rf " + dir);
  return evidence;
}

}  // namespace banyan::test
