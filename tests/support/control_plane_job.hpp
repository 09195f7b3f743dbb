#pragma once
// Several ranks' control planes (src/resilience/control_plane.hpp) in one process, over real
// UDP sockets on loopback: the set-up the control-plane and failure-accounting unit tests share.

#include "resilience/control_plane.hpp"
#include "transports/peer_liveness.hpp"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace banyan::test {

// Every plane's communicator nonce (a datagram a test crafts must carry it).
inline constexpr std::uint64_t kJobNonce = 77;

struct Job {
  // Before the planes, so it outlives them: their threads call the listeners below until each
  // plane is destroyed (declared after, it went first, and a late notice wrote freed memory).
  std::vector<std::atomic<int>> breaks;
  std::vector<std::unique_ptr<resilience::ControlPlane>> planes;

  // `liveness`: null, as for ranks on other hosts (nothing tells whether a peer's process runs),
  // or one that says every rank runs in this process (thread-ranks).
  Job(int size, resilience::LivenessSettings settings,
      std::shared_ptr<const transport::PeerLiveness> liveness = nullptr)
      : breaks(static_cast<std::size_t>(size)) {
    std::vector<std::string> addresses;
    for (int r = 0; r < size; ++r) {
      planes.push_back(
          std::make_unique<resilience::ControlPlane>(r, size, kJobNonce, "127.0.0.1", settings, "test", 5));
      addresses.push_back(planes.back()->address());
    }
    for (int r = 0; r < size; ++r) {
      planes[static_cast<std::size_t>(r)]->setListener(
          [this, r](const Status&) { ++breaks[static_cast<std::size_t>(r)]; });
      planes[static_cast<std::size_t>(r)]->start(addresses, liveness);
    }
  }
  // The rank's process "dies": its plane goes silent at once.
  void silence(int rank) { planes[static_cast<std::size_t>(rank)].reset(); }
};

// Every rank of the job in this process, as thread-ranks are: a refused port then means closed.
inline std::shared_ptr<const transport::PeerLiveness> allInThisProcess(int size) {
  auto liveness = std::make_shared<transport::PeerLiveness>(size);
  for (int r = 0; r < size; ++r) liveness->watch(r, ::getpid());
  return liveness;
}

}  // namespace banyan::test
