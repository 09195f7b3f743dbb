// One process's share of thread-ranks (thread_ranks.hpp): a thread per rank makes its store
// client and communicator, waits for every other rank, runs one allreduce, checks it, and waits
// again before closing, so no rank leaves while a peer still needs it. Each of the three
// barriers spans every process of the run: the last rank of a process to arrive sets a key and
// waits in the store for the other processes' keys.

#include "tools/thread_ranks/thread_ranks.hpp"

#include "bootstrap/counting_store.hpp"
#include "bootstrap/store_roots.hpp"
#include "common/status.hpp"

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include <dirent.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <barrier>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>

namespace banyan::tools {
namespace {

using Clock = std::chrono::steady_clock;

std::size_t openDescriptors() {
  std::size_t count = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    ::closedir(dir);
  }
  return count > 0 ? count - 1 : 0;  // the listing's own descriptor
}

// A "Name:   value" field of /proc/self/status (0 when absent).
long statusField(const char* name) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::size_t length = std::strlen(name);
  while (std::getline(status, line)) {
    if (line.compare(0, length, name) == 0 && line.size() > length && line[length] == ':') {
      return std::atol(line.c_str() + length + 1);
    }
  }
  return 0;
}

struct Usage {
  std::size_t fds = 0;
  long threads = 0;
  long peakKib = 0;
  static Usage now() { return {openDescriptors(), statusField("Threads"), statusField("VmHWM")}; }
};

struct RankOutcome {
  std::uint64_t storeRequests = 0;
  double closeSeconds = 0;  // this rank's own close()
  bool right = false;
  std::string error;
};

class Share {
 public:
  Share(const ThreadRankRun& run, const ThreadRankShare& share)
      : run_(run),
        share_(share),
        sync_(std::make_shared<TcpStore>("127.0.0.1", share.port)),
        outcomes_(static_cast<std::size_t>(share.count)),
        created_(share.count, Stamp{this, &createdAt_, "created"}),
        reduced_(share.count, Stamp{this, &reducedAt_, "reduced"}),
        closed_(share.count, Stamp{this, &closedAt_, "closed"}) {}

  void rank(int local) {
    const int rank = share_.first + local;
    auto& outcome = outcomes_[static_cast<std::size_t>(local)];
    bool arrived = false;
    bool reduced = false;
    try {
      auto roots = storeOf(rank);
      auto counted = std::make_shared<bootstrap::CountingStore>(roots);
      Options options;
      options.transport = run_.transport;
      options.timeout = run_.timeout;
      options.heartbeat = run_.heartbeat;
      options.heartbeatMisses = run_.heartbeatMisses;
      auto communicator = Communicator::createWithOwnStore(counted, rank, run_.ranks, options);
      outcome.storeRequests = counted->requests();
      if (const auto* multi = bootstrap::findRoots(*roots)) {
        const auto perRoot = multi->requestsPerRoot();
        outcome.storeRequests = std::accumulate(perRoot.begin(), perRoot.end(), std::uint64_t{0});
      }
      created_.arrive_and_wait();
      arrived = true;
      std::vector<double> values(run_.count);
      for (std::size_t i = 0; i < values.size(); ++i) values[i] = rank + 1.0 + static_cast<double>(i);
      communicator.allreduce(values.data(), values.size(), DataType::f64, ReduceOp::sum);
      const double n = run_.ranks;
      outcome.right = true;
      for (std::size_t i = 0; i < values.size(); ++i) {
        outcome.right = outcome.right && values[i] == n * (n + 1) / 2 + n * static_cast<double>(i);
      }
      reduced_.arrive_and_wait();
      reduced = true;
      const auto closing = Clock::now();
      communicator.close();
      outcome.closeSeconds = std::chrono::duration<double>(Clock::now() - closing).count();
    } catch (const std::exception& e) {
      outcome.error = e.what();
      // Leave the barriers this rank will not reach, so the others are not held for it.
      if (!arrived) created_.arrive_and_drop();
      if (!reduced) reduced_.arrive_and_drop();
    }
    closed_.arrive_and_wait();  // the communicator closed when its scope (the try) ended
  }

  // Rank `rank`'s store: the one server, or a MultiRootStore over the run's roots.
  std::shared_ptr<Store> storeOf(int rank) const {
    std::shared_ptr<Store> first = std::make_shared<TcpStore>("127.0.0.1", share_.port);
    if (share_.rootPorts.empty()) return first;
    std::vector<std::shared_ptr<Store>> roots{first};
    for (std::uint16_t port : share_.rootPorts) roots.push_back(std::make_shared<TcpStore>("127.0.0.1", port));
    return std::make_shared<bootstrap::MultiRootStore>(std::move(roots), rank, run_.ranks);
  }

  // A rank whose thread never started: the others are not held at the barriers for it (they
  // fail on their own, at their deadline, waiting for it in the store).
  void abandon() {
    created_.arrive_and_drop();
    reduced_.arrive_and_drop();
    closed_.arrive_and_drop();
  }

  ThreadRankReport report(Clock::time_point start, const Usage& before) const {
    ThreadRankReport report;
    report.ranks = share_.count;
    report.createSeconds = std::chrono::duration<double>(createdAt_ - start).count();
    report.firstAllreduceSeconds = std::chrono::duration<double>(reducedAt_ - createdAt_).count();
    report.closeSeconds = std::chrono::duration<double>(closedAt_ - reducedAt_).count();
    if (!syncError_.empty()) report.errors.push_back(syncError_);
    for (int local = 0; local < share_.count; ++local) {
      const int rank = share_.first + local;
      const auto& outcome = outcomes_[static_cast<std::size_t>(local)];
      if (!outcome.error.empty()) {
        report.errors.push_back(fmt::format("rank {}: {}", rank, outcome.error));
        continue;
      }
      if (!outcome.right) ++report.wrongResults;
      if (rank == 0) {
        report.storeRequestsRankZero = outcome.storeRequests;
      } else {
        report.storeRequestsMax = std::max(report.storeRequestsMax, outcome.storeRequests);
      }
    }
    std::vector<double> closes;
    for (const auto& outcome : outcomes_) closes.push_back(outcome.closeSeconds);
    std::sort(closes.begin(), closes.end());
    report.closeOneMedianSeconds = closes[closes.size() / 2];
    report.closeOneMaxSeconds = closes.back();
    const double n = share_.count;
    report.fdsPerRank = (static_cast<double>(atEnd_.fds) - static_cast<double>(before.fds)) / n;
    report.threadsPerRank = static_cast<double>(atEnd_.threads - before.threads - share_.count) / n;
    report.peakKibPerRank = static_cast<double>(atEnd_.peakKib - before.peakKib) / n;
    return report;
  }

 private:
  // A barrier's completion: the moment every rank of every process got there.
  struct Stamp {
    Share* share;
    Clock::time_point* at;
    const char* name;
    void operator()() noexcept {
      if (at == &share->reducedAt_) share->atEnd_ = Usage::now();
      share->acrossProcesses(name);
      *at = Clock::now();
    }
  };

  void acrossProcesses(const char* name) noexcept {
    if (run_.processes <= 1 || !syncError_.empty()) return;
    try {
      const auto key = [&](int process) { return fmt::format("thread-ranks/{}/{}", name, process); };
      sync_->set(key(share_.process), {1}, run_.timeout);
      std::vector<std::string> keys;
      for (int process = 0; process < run_.processes; ++process) keys.push_back(key(process));
      sync_->wait(keys, run_.timeout);
    } catch (const std::exception& e) {
      syncError_ = fmt::format("process {} of {}: the barrier '{}' across processes: {}", share_.process,
                               run_.processes, name, e.what());
    }
  }

  const ThreadRankRun& run_;
  ThreadRankShare share_;
  std::shared_ptr<TcpStore> sync_;
  std::vector<RankOutcome> outcomes_;
  std::string syncError_;
  Clock::time_point createdAt_{};
  Clock::time_point reducedAt_{};
  Clock::time_point closedAt_{};
  Usage atEnd_{};
  std::barrier<Stamp> created_;
  std::barrier<Stamp> reduced_;
  std::barrier<Stamp> closed_;
};

struct ThreadStart {
  Share* share;
  int local;
};

void* rankThread(void* argument) {
  auto* start = static_cast<ThreadStart*>(argument);
  start->share->rank(start->local);
  return nullptr;
}

}  // namespace

std::uint64_t raiseFileLimit(std::uint64_t wanted) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= wanted) return limit.rlim_cur;
  rlimit raised = limit;
  raised.rlim_cur = wanted;
  raised.rlim_max = std::max<rlim_t>(limit.rlim_max, wanted);
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    // Not allowed to raise the hard limit: go as far as it lets.
    raised.rlim_max = limit.rlim_max;
    raised.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
  ::getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

std::uint64_t filesNeeded(int ranks) { return static_cast<std::uint64_t>(ranks) * 24 + 1024; }

ThreadRankReport runShare(const ThreadRankRun& run, const ThreadRankShare& share) {
  const Usage before = Usage::now();
  Share job(run, share);
  std::vector<ThreadStart> starts(static_cast<std::size_t>(share.count));
  std::vector<pthread_t> threads;
  pthread_attr_t attributes;
  ::pthread_attr_init(&attributes);
  ::pthread_attr_setstacksize(&attributes, std::max<std::size_t>(run.stackBytes, PTHREAD_STACK_MIN));
  const auto start = Clock::now();
  std::string startError;
  for (int local = 0; local < share.count; ++local) {
    starts[static_cast<std::size_t>(local)] = {&job, local};
    pthread_t thread;
    if (const int err = ::pthread_create(&thread, &attributes, rankThread, &starts[static_cast<std::size_t>(local)]);
        err != 0) {
      startError = fmt::format("could not start the thread of rank {} of {}: {}", share.first + local, run.ranks,
                               std::strerror(err));
      for (int left = local; left < share.count; ++left) job.abandon();
      break;
    }
    threads.push_back(thread);
  }
  ::pthread_attr_destroy(&attributes);
  for (pthread_t thread : threads) ::pthread_join(thread, nullptr);
  auto report = job.report(start, before);
  if (!startError.empty()) report.errors.insert(report.errors.begin(), startError);
  return report;
}

}  // namespace banyan::tools
