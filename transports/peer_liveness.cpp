#include "transports/peer_liveness.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace banyan::transport {
namespace {

// Waits on `fd` (owned by the caller's watch) and calls `onExit` once it is readable.
ExitWatch watchDescriptor(const asio::any_io_executor& io, int fd, std::function<void()> onExit) {
  auto watch = std::make_unique<asio::posix::stream_descriptor>(io, fd);
  watch->async_wait(asio::posix::stream_descriptor::wait_read,
                    [onExit = std::move(onExit)](const asio::error_code& ec) {
                      if (!ec) onExit();
                    });
  return watch;
}

}  // namespace

ExitWatch watchProcessExit(const asio::any_io_executor& io, pid_t pid, std::function<void()> onExit) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return nullptr;
  return watchDescriptor(io, fd, std::move(onExit));
}

PeerLiveness::PeerLiveness(int size)
    : pids_(static_cast<std::size_t>(size), 0), fds_(static_cast<std::size_t>(size), -1) {}

PeerLiveness::~PeerLiveness() {
  // Ranks of one process share its pidfd (watch()): close each once.
  std::sort(fds_.begin(), fds_.end());
  for (std::size_t i = 0; i < fds_.size(); ++i) {
    if (fds_[i] >= 0 && (i == 0 || fds_[i] != fds_[i - 1])) ::close(fds_[i]);
  }
}

void PeerLiveness::watch(int rank, pid_t pid) {
  if (!known(rank) || pid <= 0 || pids_[static_cast<std::size_t>(rank)] == pid) return;
  int& fd = fds_[static_cast<std::size_t>(rank)];
  if (fd >= 0 && std::count(fds_.begin(), fds_.end(), fd) == 1) {  // a new pid for this rank: rare
    std::erase_if(fdOfPid_, [&](const auto& entry) { return entry.second == fd; });
    ::close(fd);
  }
  fd = -1;
  pids_[static_cast<std::size_t>(rank)] = pid;
  // A peer in this very process (ranks run as threads, tools/thread_ranks) cannot exit without
  // this rank: there is nothing to watch (its pid is kept: the control channel tells by it that
  // a peer whose port refuses datagrams closed rather than died), and a pidfd per such peer was
  // n - 1 descriptors per rank, n^2 in the process (all 20000 allowed here were gone at ~150
  // thread-ranks).
  if (pid == ::getpid()) return;
  // Ranks of one process (thread-ranks split over a few processes) share one pidfd: one per
  // process watched, not one per rank.
  if (auto it = fdOfPid_.find(pid); it != fdOfPid_.end()) {
    fd = it->second;
    return;
  }
  fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) fdOfPid_[pid] = fd;
}

pid_t PeerLiveness::pidOf(int rank) const { return known(rank) ? pids_[static_cast<std::size_t>(rank)] : 0; }

ExitWatch PeerLiveness::onExit(const asio::any_io_executor& io, int rank, std::function<void()> onExit) const {
  if (!known(rank) || fds_[static_cast<std::size_t>(rank)] < 0) return nullptr;
  // Each watch waits on a descriptor of its own, so destroying it cancels only its call.
  const int fd = ::dup(fds_[static_cast<std::size_t>(rank)]);
  if (fd < 0) return nullptr;
  return watchDescriptor(io, fd, std::move(onExit));
}

bool PeerLiveness::exited(int rank, std::chrono::milliseconds wait) const {
  if (!known(rank) || pids_[static_cast<std::size_t>(rank)] <= 0) return false;
  const int fd = fds_[static_cast<std::size_t>(rank)];
  if (fd < 0) return ::kill(pids_[static_cast<std::size_t>(rank)], 0) != 0 && errno == ESRCH;
  pollfd entry{fd, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&entry, 1, static_cast<int>(wait.count()));
  } while (ready < 0 && errno == EINTR);
  return ready > 0 && (entry.revents & POLLIN) != 0;
}

}  // namespace banyan::transport
