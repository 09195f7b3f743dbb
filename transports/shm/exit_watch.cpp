#include "transports/shm/exit_watch.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace banyan::transport::shm {

std::unique_ptr<asio::posix::stream_descriptor> watchProcessExit(asio::io_context& io, pid_t pid,
                                                                 std::function<void()> onExit) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return nullptr;
  auto watch = std::make_unique<asio::posix::stream_descriptor>(io, fd);
  watch->async_wait(asio::posix::stream_descriptor::wait_read,
                    [onExit = std::move(onExit)](const asio::error_code& ec) {
                      if (!ec) onExit();
                    });
  return watch;
}

}  // namespace banyan::transport::shm
