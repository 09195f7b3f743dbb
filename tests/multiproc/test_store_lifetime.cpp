// The store inside rank 0's process (torchrun's variables, as mpirun, PMIx and Slurm have it):
// rank 0 may finish before the others have found each other through the store, and its
// process must not take the store away from them (bootstrap::ServingStore, BANYAN_STORE_LINGER).

#include "support/files.hpp"
#include "support/multiproc.hpp"
#include "support/ports.hpp"

#include <fmt/format.h>
#include <banyan/banyan.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace banyan;

namespace {

// torchrun's variables only (banyan's own, set by the test launcher, would take precedence).
void setTorchrunVariables(int rank, int size, std::uint16_t port) {
  for (const char* name : {"BANYAN_RANK", "BANYAN_SIZE", "BANYAN_STORE_ADDR"}) ::unsetenv(name);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(size).c_str(), 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
}

std::string describe(const std::vector<bootstrap::RankExit>& exits) {
  std::string text;
  for (const auto& exit : exits) text += exit.describe() + "\n";
  return text;
}

}  // namespace

// Rank 0 closes its communicator at once; ranks 1 and 3 first meet a second later, when each
// has to look the other's address up in rank 0's store. (The failure this guards against was
// a barrier: rank 0 done with its part, two others not yet connected, rank 0's process gone.)
TEST_CASE("rank 0 serves the store and finishes first: the others still find each other through it",
          "[multiproc][launchers][store-lifetime]") {
  const std::string transport = GENERATE(as<std::string>{}, "tcp", "shm-messages");
  const std::uint16_t port = test::unusedPort();
  bootstrap::LaunchOptions options = test::over(transport);
  options.environment["BANYAN_TIMEOUT"] = "20s";
  options.deadline = std::chrono::seconds(60);
  constexpr int kRanks = 4;
  const auto exits = bootstrap::launchLocal(
      kRanks,
      [&](int rank) {
        setTorchrunVariables(rank, kRanks, port);
        {
          Communicator comm = Communicator::fromEnvironment();
          if (rank == 0) return 0;  // closes the communicator, and so lets go of the store
          std::this_thread::sleep_for(std::chrono::seconds(1));
          int value = 0;
          if (rank == 1) {
            value = 41;
            comm.send(&value, 1, DataType::i32, 3, 7);
          } else if (rank == 3) {
            RANK_EXPECT(rank, comm.recv(&value, 1, DataType::i32, 1, 7) == 1);
            RANK_EXPECT(rank, value == 41);
          }
        }
        return 0;
      },
      options);
  INFO(describe(exits));
  for (const auto& exit : exits) CHECK(exit.ok());
}

// The wait is bounded: a rank that keeps its communicator (here: sleeps holding it) past
// BANYAN_STORE_LINGER does not keep rank 0's process from exiting, and rank 0 says so.
TEST_CASE("rank 0 waits for the others to let go of its store at most BANYAN_STORE_LINGER",
          "[multiproc][launchers][store-lifetime]") {
  const std::uint16_t port = test::unusedPort();
  bootstrap::LaunchOptions options = test::over("tcp");
  options.environment["BANYAN_TIMEOUT"] = "20s";
  options.environment["BANYAN_STORE_LINGER"] = "1s";
  options.deadline = std::chrono::seconds(60);
  const std::string logPath = fmt::format("/tmp/banyan-store-linger-{}.log", ::getpid());
  constexpr auto kHold = std::chrono::seconds(8);
  const auto exits = bootstrap::launchLocal(
      2,
      [&](int rank) {
        setTorchrunVariables(rank, 2, port);
        Communicator comm = Communicator::fromEnvironment();
        comm.barrier();
        if (rank == 1) {
          std::this_thread::sleep_for(kHold);
          return 0;
        }
        // This rank's log lines go to a file the test reads back (the child's own stderr).
        const int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        RANK_EXPECT(rank, log >= 0 && ::dup2(log, STDERR_FILENO) == STDERR_FILENO);
        const auto start = std::chrono::steady_clock::now();
        { Communicator gone = std::move(comm); }
        const auto took = std::chrono::steady_clock::now() - start;
        // Well under the other rank's hold: the linger, not rank 1, ended the wait.
        RANK_EXPECT(rank, took < kHold - std::chrono::seconds(3));
        return 0;
      },
      options);
  INFO(describe(exits));
  for (const auto& exit : exits) CHECK(exit.ok());
  const std::string log = test::readFile(logPath);
  std::remove(logPath.c_str());
  INFO(log);
  CHECK(log.find("with 1 connection(s) still open after BANYAN_STORE_LINGER=1000 ms") != std::string::npos);
}
