#pragma once
// Whether a peer rank's process on this host has exited: the one place the transports of a
// communicator ask (tcp when a connection breaks, shm and ofi from the event loop, ofi before
// it closes). A pidfd (Linux 5.3+) becomes readable once its process has exited, so a rank
// killed mid-collective fails its peers on this host at once instead of at the timeout, and a
// stopped (SIGSTOP) process, which has not exited, still ends in a Timeout. Ranks on other
// hosts have no pid here: their transports have signals of their own (a broken connection;
// ofi's probes, ofi/ofi_liveness.hpp).
//
// setUpTransports makes one PeerLiveness per communicator, watching the peers of this host
// from the pids every rank publishes with its host identity, and hands it to every transport
// it builds; a transport built alone (tests) makes its own.
//
// Not here: ofi's provider watchdog (ofi/provider_watchdog.hpp) reads /proc from its own thread
// to tell a stopped peer from an exited one, a question no pidfd answers.

#include <sys/types.h>

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace banyan::transport {

// Destroying it cancels the call it was made for.
using ExitWatch = std::unique_ptr<asio::posix::stream_descriptor>;

// Calls `onExit` on `io`'s event loop once `pid` has exited. Returns the watch, or nullptr where
// the kernel has no pidfd (the timeout still ends waits).
ExitWatch watchProcessExit(const asio::any_io_executor& io, pid_t pid, std::function<void()> onExit);

class PeerLiveness {
 public:
  explicit PeerLiveness(int size);
  ~PeerLiveness();
  PeerLiveness(const PeerLiveness&) = delete;
  PeerLiveness& operator=(const PeerLiveness&) = delete;

  // `rank` runs on this host as `pid`; again with the same pid changes nothing. Without
  // pidfds the rank is known by pid alone (exited() then asks kill(pid, 0)).
  void watch(int rank, pid_t pid);
  // The process of `rank` on this host, or 0 where it is not watched.
  pid_t pidOf(int rank) const;
  // Calls `onExit` on `io`'s event loop once `rank`'s process has exited; nullptr for a rank
  // not watched or without a pidfd.
  ExitWatch onExit(const asio::any_io_executor& io, int rank, std::function<void()> onExit) const;
  // The pidfd of `rank` (readable once it has exited), owned here; -1 where there is none. For
  // callers that wait in poll() of their own (the control channel, resilience/).
  int descriptor(int rank) const { return known(rank) ? fds_[static_cast<std::size_t>(rank)] : -1; }
  // True if `rank`'s process is known to have exited, waiting up to `wait` for the kernel to
  // say so; false for a rank not watched. Callable from any thread once watching is done.
  bool exited(int rank, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;

 private:
  bool known(int rank) const { return rank >= 0 && static_cast<std::size_t>(rank) < pids_.size(); }

  std::vector<pid_t> pids_;
  std::vector<int> fds_;  // pidfds, -1 where none; ranks of one process share one
  std::unordered_map<pid_t, int> fdOfPid_;
};

}  // namespace banyan::transport
