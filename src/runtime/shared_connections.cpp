#include "runtime/shared_connections.hpp"

namespace banyan::runtime {

SharedConnections::SharedConnections(std::shared_ptr<detail::ProgressDriver> driver, std::uint64_t id)
    : driver_(std::move(driver)),
      member_(driver_->join()),
      executor_(detail::memberExecutor(driver_->io(), member_)),
      id_(id) {}

SharedConnections::~SharedConnections() {
  collectives.reset();
  pointToPoint.reset();
  // Handlers of the closed sockets may still be queued: they are dropped, never run.
  member_->on.store(false, std::memory_order_release);
  // Never the family's last: the member whose close drops these is still in it.
  driver_->leave();
}

}  // namespace banyan::runtime
