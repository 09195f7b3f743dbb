#pragma once
// Learns from the kernel when a process on this host ends: a pidfd (Linux 5.3+) becomes
// readable when its process exits, and the event loop waits on it like on a socket. A rank
// killed mid-collective thus fails its shared-memory peers at once instead of at the timeout.

#include <asio.hpp>

#include <sys/types.h>

#include <functional>
#include <memory>

namespace banyan::transport::shm {

// Calls `onExit` on the event loop once `pid` has exited. Returns the watch (destroying it
// cancels the call), or nullptr where the kernel has no pidfd (the timeout still ends waits).
std::unique_ptr<asio::posix::stream_descriptor> watchProcessExit(asio::io_context& io, pid_t pid,
                                                                 std::function<void()> onExit);

}  // namespace banyan::transport::shm
