#pragma once
// The connections a communicator family shares (docs/architecture.md, "Groups over their
// parent's connections"): the transports the family's first member opened, kept on an event-loop
// member of their own (runtime/member_executor.hpp) so that they outlive that member while
// another still sends through them. Every member, the first included, sends through a channel
// of them (transport.hpp, openChannel) numbered with its agreed nonce.

#include "runtime/member_executor.hpp"
#include "runtime/progress_driver.hpp"
#include "transports/per_peer_transport.hpp"

#include <asio.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace banyan::runtime {

class SharedConnections {
 public:
  // `id`: tells these connections apart from another family's in the store (the first member's
  // nonce, which all its ranks agree on).
  SharedConnections(std::shared_ptr<detail::ProgressDriver> driver, std::uint64_t id);
  // Holding the driver lock, or before the driver runs (a communicator's close or failed
  // set-up): closes the transports, then drops whatever their event loop still holds of them.
  ~SharedConnections();
  SharedConnections(const SharedConnections&) = delete;
  SharedConnections& operator=(const SharedConnections&) = delete;

  std::uint64_t id() const { return id_; }
  // Where the transports run their sockets, timers and doorbells.
  const asio::any_io_executor& executor() const { return executor_; }

  // Both set only when they can carry channels (transports that cannot share, ofi today, stay
  // their first member's own).
  std::unique_ptr<transport::PerPeerTransport> collectives;
  std::unique_ptr<transport::PerPeerTransport> pointToPoint;
  bool shareable() const { return collectives && pointToPoint; }

 private:
  std::shared_ptr<detail::ProgressDriver> driver_;
  std::shared_ptr<detail::MemberSwitch> member_;
  asio::any_io_executor executor_;
  std::uint64_t id_;
};

// Where a communicator made from another sends: its family's connections and its ranks there.
struct ConnectionShare {
  std::shared_ptr<SharedConnections> connections;  // null: open its own
  int rank = -1;                                   // this rank there
};

}  // namespace banyan::runtime
