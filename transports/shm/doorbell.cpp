#include "transports/shm/doorbell.hpp"

#include "common/status.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace banyan::transport::shm {
namespace {

// An abstract-namespace address: a leading NUL, then the name (no file is created, and the
// name disappears with the socket, so a killed rank leaves nothing behind).
std::pair<sockaddr_un, socklen_t> abstractAddress(const std::string& name) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::size_t length = std::min(name.size(), sizeof(address.sun_path) - 1);
  std::memcpy(address.sun_path + 1, name.data(), length);
  return {address, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length)};
}

// The process's one sending socket, made on first use and kept until the process exits:
// sendto on an unbound datagram socket is safe from any thread, and a forked child that
// inherits it can use it as well.
int senderSocket() {
  static const int sender = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sender < 0) fail(ErrorCode::System, "shm doorbell: socket(): {}", errnoText(errno));
  return sender;
}

}  // namespace

Doorbell::Doorbell(const asio::any_io_executor& io, const std::string& name, std::function<void()> onRing)
    : socket_(io), onRing_(std::move(onRing)) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(ErrorCode::System, "shm doorbell: socket(): {}", errnoText(errno));
  auto [address, length] = abstractAddress(name);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    const int error = errno;
    ::close(fd);
    fail(ErrorCode::System, "shm doorbell: cannot bind '@{}': {}", name, errnoText(error));
  }
  socket_.assign(asio::local::datagram_protocol(), fd);
  sender_ = senderSocket();
  arm();
}

Doorbell::~Doorbell() {
  asio::error_code ignored;
  socket_.close(ignored);
}

void Doorbell::arm() {
  socket_.async_wait(asio::socket_base::wait_read, [this](const asio::error_code& ec) {
    if (ec) return;  // closed
    // Drain every pending wake-up: one look at shared memory serves them all.
    char bytes[64];
    while (::recv(socket_.native_handle(), bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
    }
    arm();
    onRing_();
  });
}

void Doorbell::ring(const std::string& name) {
  auto [address, length] = abstractAddress(name);
  const char byte = 1;
  // Failure is harmless: EAGAIN means wake-ups are already queued; ECONNREFUSED means the
  // peer is gone, which its own failure detection reports.
  (void)::sendto(sender_, &byte, 1, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&address), length);
}

}  // namespace banyan::transport::shm
