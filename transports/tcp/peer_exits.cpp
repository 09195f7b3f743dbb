#include "transports/tcp/peer_exits.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace banyan::transport::tcp {

PeerExits::~PeerExits() {
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void PeerExits::watch(int rank, pid_t pid) {
  if (rank < 0 || static_cast<std::size_t>(rank) >= fds_.size() || pid <= 0) return;
  int& fd = fds_[static_cast<std::size_t>(rank)];
  if (fd >= 0) ::close(fd);
  fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

bool PeerExits::exited(int rank, std::chrono::milliseconds wait) {
  if (rank < 0 || static_cast<std::size_t>(rank) >= fds_.size()) return false;
  const int fd = fds_[static_cast<std::size_t>(rank)];
  if (fd < 0) return false;
  if (waited_[static_cast<std::size_t>(rank)]) wait = std::chrono::milliseconds(0);
  waited_[static_cast<std::size_t>(rank)] = true;
  pollfd entry{fd, POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&entry, 1, static_cast<int>(wait.count()));
  } while (ready < 0 && errno == EINTR);
  return ready > 0 && (entry.revents & POLLIN) != 0;
}

}  // namespace banyan::transport::tcp
