#include "observe/dump_signal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "observe/flight_recorder.hpp"

namespace banyan::observe {
namespace {

std::atomic<int> gWakeFd{-1};  // the pipe's write end, for the handler

void onSignal(int) {
  const int saved = errno;  // a handler must leave errno as it found it
  const int fd = gWakeFd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] const auto written = write(fd, &byte, 1);  // a full pipe already has a dump coming
  }
  errno = saved;
}

struct Registry {
  std::mutex mutex;  // held while dumping, so a recorder cannot go away mid-dump
  std::vector<FlightRecorder*> recorders;
  pid_t owner = 0;  // the process whose thread reads the pipe (a forked child needs its own)
  int readFd = -1;
  bool handlerInstalled = false;
};

// Never destroyed: the reading thread may still be blocked in read() while the process exits.
Registry& registry() {
  static Registry* instance = new Registry;
  return *instance;
}

void readLoop(int fd) {
  for (;;) {
    char bytes[64];
    const auto n = read(fd, bytes, sizeof bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    for (FlightRecorder* recorder : r.recorders) recorder->dump("SIGUSR1");
  }
}

// Under the registry's mutex.
void startReader(Registry& r) {
  if (r.owner == getpid()) return;
  // After a fork the parent's pipe is ours too, but its reader thread is not, nor are its
  // recorders (copies of the parent's, not this process's communicators): start afresh.
  r.recorders.clear();
  if (r.readFd >= 0) {
    close(r.readFd);
    close(gWakeFd.exchange(-1));
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    log::warn(log::Where{log::Subsystem::Observe},
              "flight recorder: cannot create the SIGUSR1 pipe: {}; SIGUSR1 will not dump", std::strerror(errno));
    return;
  }
  // The reader blocks; only the handler's end must never block.
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) & ~O_NONBLOCK);
  r.readFd = fds[0];
  gWakeFd = fds[1];
  r.owner = getpid();
  std::thread(readLoop, fds[0]).detach();

  struct sigaction old {};
  sigaction(SIGUSR1, nullptr, &old);
  const bool ours = !(old.sa_flags & SA_SIGINFO) && old.sa_handler == onSignal;
  if (ours) return;  // inherited through fork
  if (old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO)) {
    log::warn(log::Where{log::Subsystem::Observe},
              "flight recorder: SIGUSR1 already has a handler; it is left alone, so SIGUSR1 will not dump");
    return;
  }
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
}

}  // namespace

void registerForSignal(FlightRecorder* recorder) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  startReader(r);
  r.recorders.push_back(recorder);
}

void unregisterForSignal(FlightRecorder* recorder) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.recorders.erase(std::remove(r.recorders.begin(), r.recorders.end(), recorder), r.recorders.end());
}

}  // namespace banyan::observe
