#pragma once
// Many ranks as threads (issue 19): each thread is a rank with its own banyan::Communicator
// over loopback TCP, all of them rendezvousing through one TcpStoreServer in the harness's
// process, each through a TcpStore client of its own (one connection per rank, as separate
// processes would make). This is how 1k-4k ranks are created on a 2-core machine.
//
// A rank holds ~17-21 descriptors (its store connection and the server's end of it, the control
// channel's socket and eventfd, its event loop's epoll, eventfd and timerfd, two listeners, and
// one end of each connection; both ends are in the process). This machine's hard RLIMIT_NOFILE
// is 20000, which a process without CAP_SYS_RESOURCE cannot raise: about 1000 thread-ranks fit
// in one process. So the ranks can be split over `processes` forked processes, each a share of
// thread-ranks under its own limit; the store stays in the parent.
//
// Every rank makes its communicator with Communicator::createWithOwnStore: create() numbers
// the communicators of a process in creation order, so thread-ranks (which all live in one
// process) would each take a different number and never meet.
//
// What a run measures, over the whole process: the wall time until every rank has its
// communicator, the wall time of the first allreduce (connections form there, lazily), the
// store requests each rank's creation made, and what the ranks hold: file descriptors, threads
// and resident memory, each divided by the ranks.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace banyan::tools {

struct ThreadRankRun {
  int ranks = 64;
  int processes = 1;  // 1: every rank a thread of this process; more: forked shares
  std::string transport = "tcp";
  std::size_t count = 1;  // f64 elements of the allreduce
  std::chrono::milliseconds timeout{120000};
  // Heartbeats (Options::heartbeat, heartbeatMisses): a rank is lost after this long silent.
  // Ranks here outnumber the cores by up to 2000 to 1, and a rank's control thread can wait
  // seconds for a core: the default window (1 s x 5) declared live ranks lost at 1024 ranks,
  // and each loss went to every rank. 2 s x 30 = a minute, as long as the ranks' deadline.
  std::chrono::milliseconds heartbeat{2000};
  int heartbeatMisses = 30;
  // Stack of each rank's own thread (banyan's threads keep the default): thousands of 8 MiB
  // stacks are address space only, but a small one keeps the process's maps short.
  std::size_t stackBytes = 256 * 1024;
  // Store roots (bootstrap/store_roots.hpp): 1 is the one store; k > 1 serves k - 1 more in the
  // harness's process and gives every rank a MultiRootStore over all k.
  int roots = 1;
};

struct ThreadRankReport {
  int ranks = 0;
  int processes = 1;
  double createSeconds = 0;          // from the first thread's start to the last communicator made
  double firstAllreduceSeconds = 0;  // from the last communicator made to the last first allreduce done
  double closeSeconds = 0;           // from then to the last communicator closed
  double closeOneMedianSeconds = 0;  // one rank's close(), median and largest over the ranks
  double closeOneMaxSeconds = 0;
  // Per rank, rank 0 aside (it gathers n - 1 keys; n / k + 2k with k roots, and the roots'
  // leaders n / k each). With several roots, the requests sent to all of them.
  std::uint64_t storeRequestsMax = 0;
  std::uint64_t storeRequestsRankZero = 0;
  // Of the ranks' processes (the store's aside), after the allreduce, less what each held
  // before, divided by its ranks; the mean over the processes.
  double fdsPerRank = 0;            // open descriptors
  double threadsPerRank = 0;        // threads besides the ranks' own
  double peakKibPerRank = 0;        // peak resident set (VmHWM)
  int wrongResults = 0;             // ranks whose allreduce result differs from the exact sum
  std::vector<std::string> errors;  // "rank R: what failed", in rank order
};

// Raises this process's RLIMIT_NOFILE soft limit to `wanted` (and the hard one with it when
// allowed, as for root); returns the soft limit in force afterwards. For the harness's own
// process only: banyan itself never changes its process's limits.
std::uint64_t raiseFileLimit(std::uint64_t wanted);

// Descriptors a run of `ranks` thread-ranks needs, with room: each rank holds its store
// connection, listeners, the control channel's socket and its event loops' descriptors, and
// both ends of every connection it makes to another rank of this process.
std::uint64_t filesNeeded(int ranks);

// Runs the ranks and returns what they took; a rank's failure is in `errors`, not thrown.
// Throws banyan::Error for what keeps the run from starting (bad counts, fork, listen).
ThreadRankReport runThreadRanks(const ThreadRankRun& run);

// One process's share of a run: ranks first..first+count-1 of run.ranks, through the store at
// 127.0.0.1:port (and the roots beyond it at rootPorts); `process` of run.processes names its
// keys for the barriers across processes.
struct ThreadRankShare {
  int first = 0;
  int count = 0;
  std::uint16_t port = 0;
  int process = 0;
  std::vector<std::uint16_t> rootPorts;
};
ThreadRankReport runShare(const ThreadRankRun& run, const ThreadRankShare& share);

// The report as text and back, for a forked share to hand its parent through a pipe.
std::string encodeReport(const ThreadRankReport& report);
ThreadRankReport decodeReport(const std::string& text);

}  // namespace banyan::tools
