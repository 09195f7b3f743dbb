#pragma once
// A bound on time spent inside one libfabric call, for providers that can spin there for ever.
//
// libfabric 1.17's shm provider takes a pthread spin lock that lives in the receiver's shared
// memory to send to it, and another to read its own queue. A rank killed (or stopped) while it
// holds one leaves every other rank that needs that lock spinning inside fi_tsend or fi_cq_read
// (docs/ofi.md, known problems: gdb of the survivors showed the driver at
// __pthread_spin_lock <- libfabric). That thread holds the transport's mutex and is the one that
// would notice the death or the deadline, so nothing in the process can end the wait: the rank
// would hang for ever.
//
// So a watchdog thread of its own (it touches none of the transport's state or locks) looks at
// when the current libfabric call began; a call older than `bound` is such a spin, and the
// watchdog ends the process with a message that says so on stderr and exit code 75, rather
// than leave it hanging. The message names the peers whose processes (on this host, where
// their pids are known) have exited or are stopped when it fires: the likely holders of the
// lock, and what the rank would have reported had it been able to. No call of banyan's to a
// software provider takes seconds: a copy of the largest message is well under one on this
// machine.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <unistd.h>

namespace banyan::transport::ofi {

class ProviderWatchdog {
 public:
  static constexpr int kExitCode = 75;

  // `what` names the rank and provider in the message.
  ProviderWatchdog(std::chrono::milliseconds bound, std::string what) : bound_(bound), what_(std::move(what)) {
    thread_ = std::thread([this] { run(); });
  }
  ~ProviderWatchdog() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  ProviderWatchdog(const ProviderWatchdog&) = delete;
  ProviderWatchdog& operator=(const ProviderWatchdog&) = delete;

  // The process of a peer rank on this host, named in the message if it has exited or is stopped.
  void watchPeer(int rank, int pid) {
    std::lock_guard lock(mutex_);
    peers_[rank] = pid;
  }

  // "rank 3 (pid 1234) has exited, rank 1 (pid 1200) is stopped", or "" when every watched
  // peer runs. From /proc: a peer that has exited may still be a zombie its parent has not
  // reaped, which kill(pid, 0) would take for alive.
  static std::string peerStates(const std::map<int, int>& peers) {
    std::string text;
    for (const auto& [rank, pid] : peers) {
      char state = 'X';  // no /proc entry: gone
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string line;
      if (stat && std::getline(stat, line)) {
        const auto close = line.rfind(')');
        if (close != std::string::npos && close + 2 < line.size()) state = line[close + 2];
      }
      const char* what = state == 'Z' || state == 'X' || state == 'x' ? "has exited"
                         : state == 'T' || state == 't'               ? "is stopped"
                                                                      : nullptr;
      if (what == nullptr) continue;
      text += (text.empty() ? "" : ", ") + std::string("rank ") + std::to_string(rank) + " (pid " +
              std::to_string(pid) + ") " + what;
    }
    return text;
  }

  // Around every libfabric call that may spin: enter() before, leave() after.
  void enter() { since_.store(now(), std::memory_order_relaxed); }
  void leave() { since_.store(0, std::memory_order_relaxed); }

  // Scoped enter/leave.
  struct Inside {
    explicit Inside(ProviderWatchdog* w) : watchdog(w) {
      if (watchdog != nullptr) watchdog->enter();
    }
    ~Inside() {
      if (watchdog != nullptr) watchdog->leave();
    }
    Inside(const Inside&) = delete;
    Inside& operator=(const Inside&) = delete;
    ProviderWatchdog* watchdog;
  };

 private:
  static std::int64_t now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // A call counts as stuck when it is older than the bound at two looks 250 ms apart: a process
  // that was stopped (SIGSTOP) for longer than the bound and then continued leaves its call
  // within that time.
  void run() {
    std::unique_lock lock(mutex_);
    std::int64_t suspect = 0;
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(250));
      const std::int64_t since = since_.load(std::memory_order_relaxed);
      if (stopping_ || since == 0 || now() - since < bound_.count()) {
        suspect = 0;
        continue;
      }
      if (suspect != since) {
        suspect = since;
        continue;
      }
      const std::string states = peerStates(peers_);
      const std::string message = "banyan: " + what_ + ": a libfabric call has not returned for " +
                                  std::to_string(now() - since) +
                                  " ms: the provider is spinning on a lock a dead or stopped rank held" +
                                  (states.empty() ? std::string() : " (" + states + ")") +
                                  " (docs/ofi.md, known problems); ending this process rather than hanging\n";
      // write(2), not stdio: the spinning thread may hold stdio's lock.
      [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, message.data(), message.size());
      ::_exit(kExitCode);
    }
  }

  const std::chrono::milliseconds bound_;
  const std::string what_;
  std::atomic<std::int64_t> since_{0};
  std::mutex mutex_;
  std::map<int, int> peers_;  // rank -> pid, under mutex_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace banyan::transport::ofi
