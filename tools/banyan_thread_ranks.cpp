// banyan-thread-ranks: creates N ranks as threads of this process (tools/thread_ranks), runs
// one checked allreduce on all of them and prints what it took (bench/scale.sh's thread rows).
//
//   banyan-thread-ranks -n 4096 [-p PROCESSES] [-k ROOTS] [-t TRANSPORT] [-c COUNT] [--heartbeat-ms MS] [--timeout-s S]
//
// -p splits the ranks over that many forked processes (thread_ranks.hpp says why: descriptors);
// -p equal to -n runs one rank per process, as a job of processes would (bench/scale.sh's init
// rows), where -t shm (BANYAN_TRANSPORT's values) works too. The default transport is tcp.
//
// -k gives the ranks that many store roots (the harness serves them all; docs/launchers.md,
// "Several store roots").
//
// Prints one line of key=value pairs; exits 1 when a rank failed or computed a wrong sum.
//
// It runs itself again, once, with glibc's cache of exited threads' stacks large enough to keep
// them all (GLIBC_TUNABLES=glibc.pthread.stack_cache_size; see keepThreadStacks). Set that
// tunable yourself (to glibc's default, 0x2800000, say) to run without.

#include "tools/thread_ranks/thread_ranks.hpp"

#include <banyan/error.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int usage(const std::string& why) {
  fmt::print(stderr,
             "banyan-thread-ranks: {}\nusage: banyan-thread-ranks -n RANKS [-p PROCESSES] [-k ROOTS] [-t TRANSPORT] "
             "[-c COUNT] "
             "[--heartbeat-ms "
             "MS] [--timeout-s S]\n",
             why);
  return 2;
}

// glibc keeps at most 40 MiB of exited threads' stacks (five of banyan's 8 MiB ones) and
// unmaps the others as their threads are joined, under one lock of the whole process. Here a
// process holds thousands of ranks whose threads all end at close, and they queue on that lock:
// at 512 thread-ranks each rank's close() took 21-72 s, with 365 of 747 threads waiting in
// __nptl_deallocate_stack (gdb), against 3.5 s with the cache below. A job of processes, one
// rank each, never meets it. The harness's process only: banyan itself never sets environment.
void keepThreadStacks(char** argv) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.pthread.stack_cache_size") != nullptr) return;
  std::string value = "glibc.pthread.stack_cache_size=0x4000000000";  // 256 GiB of address space
  if (tunables != nullptr && *tunables != '\0') value = fmt::format("{}:{}", tunables, value);
  ::setenv("GLIBC_TUNABLES", value.c_str(), 1);
  ::execv("/proc/self/exe", argv);
  // Not run again (no /proc?): go on with the default cache; only the close is slower.
}

bool positive(const char* text, long& value) {
  char* end = nullptr;
  value = std::strtol(text, &end, 10);
  return end != text && *end == '\0' && value > 0;
}

}  // namespace

int main(int argc, char** argv) {
  keepThreadStacks(argv);
  banyan::tools::ThreadRankRun run;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage(fmt::format("{} needs a value", flag));
    if (flag == "-t") {
      run.transport = argv[++i];
      continue;
    }
    long value = 0;
    if (!positive(argv[++i], value)) return usage(fmt::format("{} {}: not a positive integer", flag, argv[i]));
    if (flag == "-n") {
      run.ranks = static_cast<int>(value);
    } else if (flag == "-p") {
      run.processes = static_cast<int>(value);
    } else if (flag == "-k") {
      run.roots = static_cast<int>(value);
    } else if (flag == "-c") {
      run.count = static_cast<std::size_t>(value);
    } else if (flag == "--heartbeat-ms") {
      run.heartbeat = std::chrono::milliseconds(value);
    } else if (flag == "--timeout-s") {
      run.timeout = std::chrono::seconds(value);
    } else {
      return usage(fmt::format("unknown flag {}", flag));
    }
  }
  const auto limit =
      banyan::tools::raiseFileLimit(banyan::tools::filesNeeded((run.ranks + run.processes - 1) / run.processes));
  try {
    const auto report = banyan::tools::runThreadRanks(run);
    fmt::print(
        "ranks={} processes={} roots={} create_s={:.3f} first_allreduce_s={:.3f} close_s={:.3f} "
        "close_one_median_s={:.3f} "
        "close_one_max_s={:.3f} store_requests_per_rank={} "
        "store_requests_rank0={} "
        "fds_per_rank={:.1f} threads_per_rank={:.2f} peak_kib_per_rank={:.0f} wrong={} failed={} nofile={}\n",
        report.ranks, report.processes, run.roots, report.createSeconds, report.firstAllreduceSeconds,
        report.closeSeconds, report.closeOneMedianSeconds, report.closeOneMaxSeconds, report.storeRequestsMax,
        report.storeRequestsRankZero, report.fdsPerRank, report.threadsPerRank, report.peakKibPerRank,
        report.wrongResults, report.errors.size(), limit);
    for (std::size_t i = 0; i < report.errors.size() && i < 10; ++i) fmt::print(stderr, "{}\n", report.errors[i]);
    return report.errors.empty() && report.wrongResults == 0 ? 0 : 1;
  } catch (const banyan::Error& e) {
    fmt::print(stderr, "banyan-thread-ranks: {}\n", e.what());
    return 1;
  }
}
