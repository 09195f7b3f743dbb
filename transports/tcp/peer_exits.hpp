#pragma once
// Whether a TCP peer on this host has exited, asked when its connection breaks.
//
// A closed connection alone cannot tell a dead rank from a live one: a live rank closes its
// connections when it fails (a peer sent a message of another call, say), and writes its
// account in the store around that moment, so the runtime waits for that account up to its
// bound (src/runtime/communicator_failures.cpp), ~500 ms, before it calls the peer dead. On
// one host the kernel knows better: a pidfd becomes readable once the process has exited. A
// killed process closes its sockets inside its exit, a moment before its pidfd turns readable,
// so the question waits a little (kExitWait) for the kernel to say so; a peer whose process
// has exited writes nothing more, and the runtime checks its account once, at once, as over
// shared memory.
//
// Ranks on other hosts have no pidfd here: their closed connections keep the old path.

#include <sys/types.h>

#include <chrono>
#include <vector>

namespace banyan::transport::tcp {

// How long a broken connection's peer is given to be seen exited. Paid in full only when the
// peer is alive (it closed on purpose), where the runtime then waits for its account anyway.
constexpr std::chrono::milliseconds kExitWait{100};

class PeerExits {
 public:
  explicit PeerExits(int size) : fds_(static_cast<std::size_t>(size), -1), waited_(static_cast<std::size_t>(size)) {}
  ~PeerExits();
  PeerExits(const PeerExits&) = delete;
  PeerExits& operator=(const PeerExits&) = delete;

  // `rank` runs on this host as `pid`. Without pidfds (Linux before 5.3) nothing is watched.
  void watch(int rank, pid_t pid);
  // True if `rank`'s process is known to have exited, waiting up to `wait` for the kernel to
  // say so; false for a rank not watched. Waits once per rank: a peer found alive is asked
  // again without waiting (its other connections break too, and each asks).
  bool exited(int rank, std::chrono::milliseconds wait);

 private:
  std::vector<int> fds_;
  std::vector<bool> waited_;
};

}  // namespace banyan::transport::tcp
