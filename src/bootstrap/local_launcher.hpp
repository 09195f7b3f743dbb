#pragma once
// Starts N ranks of a job as processes on this machine, the way banyan-bench -np N and the
// multi-process tests do. This process serves the job's TcpStore on 127.0.0.1 (or ::1) while the ranks
// run; each rank finds it through the environment (BANYAN_RANK, BANYAN_SIZE, BANYAN_STORE_ADDR),
// so Communicator::fromEnvironment() works in them unchanged.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace banyan::bootstrap {

struct RankExit {
  int rank = -1;
  int exitCode = -1;  // valid when signal == 0
  int signal = 0;     // the signal that ended the process, if any
  bool killedAtDeadline = false;
  bool ok() const { return signal == 0 && exitCode == 0 && !killedAtDeadline; }
  // "rank 2 exited with 1", "rank 3 killed by SIGSEGV", "rank 1 killed: still running at deadline"
  std::string describe() const;
};

struct LaunchOptions {
  // Ranks still running at this deadline are killed (SIGKILL) and reported.
  std::chrono::milliseconds deadline{std::chrono::minutes(5)};
  // Extra environment for every rank (e.g. BANYAN_TIMEOUT for a test).
  std::map<std::string, std::string> environment;
  // Pin rank r to CPU r mod (CPUs this process may use), as mpirun's default binding does for
  // small jobs: a rank that migrates between cores loses its cache and its wake-ups get slower.
  bool bindToCores = false;
  // Serve the store on ::1 instead of 127.0.0.1 (BANYAN_STORE_ADDR=[::1]:port): the ranks then
  // listen and publish IPv6 addresses (docs/configuration.md, "Address family").
  bool ipv6 = false;
};

// Forks `n` children; child r runs body(r) and _exit()s with its return value (1 if it threw;
// the exception's what() goes to stderr prefixed with the rank). Waits for all, never longer
// than options.deadline. Call from a single-threaded process (fork).
std::vector<RankExit> launchLocal(int n, const std::function<int(int rank)>& body, const LaunchOptions& options = {});

// Same, but each child execs argv[0] with argv (PATH is searched).
std::vector<RankExit> launchLocalExec(int n, const std::vector<std::string>& argv, const LaunchOptions& options = {});

}  // namespace banyan::bootstrap
