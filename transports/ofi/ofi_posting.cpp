#include <fmt/format.h>
#include <rdma/fi_errno.h>

#include "transports/ofi/ofi_transport_impl.hpp"

namespace banyan::transport::ofi {

void OfiTransport::Impl::post(Queue queue, std::function<ssize_t()> attempt, int peer) {
  if (shutDown) return;
  if (waiting[queue].empty() && posted[queue] < limit[queue] && tryPost(queue, attempt, peer)) return;
  waiting[queue].push_back({std::move(attempt), peer});
}

// A control receive going back up after its message arrived: ahead of every held receive and
// past the count, since the control messages it takes (credits among them) are what lets the
// held ones proceed; a control receive waiting behind data receives that wait for credits
// would never see the credit (seen: 5 ranks, 64-byte slices, every rank at its count).
void OfiTransport::Impl::repostControl(std::function<ssize_t()> attempt) {
  if (shutDown) return;
  if (!tryPost(kRx, attempt, -1)) waiting[kRx].push_front({std::move(attempt), -1});
}

// True once posted (or failed for good); false if it must wait. `peer` is the rank a transmit
// goes to (-1 for receives).
bool OfiTransport::Impl::tryPost(Queue queue, const std::function<ssize_t()>& attempt, int peer) {
  const ssize_t ret = [&] {
    ProviderWatchdog::Inside inside(watchdog.get());
    return attempt();
  }();
  if (ret == 0) {
    ++posted[queue];
    return true;
  }
  if (ret == -FI_EAGAIN || (ret == -FI_ENOMEM && posted[queue] > 0)) {
    ++retried;
    return false;
  }
  // A transmit the provider refuses for good names its peer: the sockets provider answers a
  // send to a peer whose process has gone with -FI_ENOENT (its connection is gone and cannot
  // be made again), which is that peer's loss, not a fault of this system.
  if (peer >= 0 && peer < params.size && peer != params.rank && peers[static_cast<std::size_t>(peer)].gone.empty()) {
    peers[static_cast<std::size_t>(peer)].gone =
        fmt::format("cannot be reached: {} refused a send to it: {}", providerName, fiText(ret));
    failAll(lostStatus(peer));
    return true;
  }
  failAll(Status::make(ErrorCode::System, "ofi: posting to the {} endpoint: {}", providerName, fiText(ret)));
  return true;
}

void OfiTransport::Impl::retryBlocked() {
  for (Queue queue : {kTx, kRx}) {
    auto& list = waiting[queue];
    while (!list.empty() && !shutDown && posted[queue] < limit[queue]) {
      if (!tryPost(queue, list.front().attempt, list.front().peer)) {
        if (queue == kTx) noteRefused(list.front().peer);
        break;
      }
      // A post that failed for good ran failAll, which empties every waiting list.
      if (list.empty()) break;
      if (queue == kTx) txRefusedSince.reset();
      list.pop_front();
    }
  }
}

}  // namespace banyan::transport::ofi
