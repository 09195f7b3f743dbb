// Failure propagation through the store. When a rank's operation fails, the rank writes why
// under "<prefix>failed/<rank>" before it shuts its connections down. A rank that then loses a
// peer (its connection closed, its process exited) looks that key up: if the peer had failed
// first, the error says so and carries the peer's own reason (which may in turn name the rank
// that really died); if the peer left no word, the peer itself is the one that died or was cut
// off. So every survivor's error names the first rank lost, not only the neighbour that
// happened to close on it.
//
// Both store calls are bounded well below the operation timeout: this runs on the failure path
// only, on the driving thread, and the store itself may be gone (its server may have been on
// the rank that died).

#include "runtime/communicator_impl.hpp"

#include "common/log.hpp"

namespace banyan::detail {

namespace {

constexpr std::chrono::milliseconds kLookupTimeout{250};
constexpr std::chrono::milliseconds kPublishTimeout{1000};

}  // namespace

std::string CommunicatorImpl::failureKey(int rank) const { return fmt::format("{}failed/{}", prefix_, rank); }

Status CommunicatorImpl::explainLoss(const Status& failed) {
  const int peer = failed.lostPeer();
  if (peer < 0 || peer == rank_ || peer >= size_) return failed;
  try {
    const auto bytes = store_->get(failureKey(peer), std::min(kLookupTimeout, config_.timeout));
    const std::string theirs(bytes.begin(), bytes.end());
    return Status(failed.code(), fmt::format("{}; rank {} had failed before it closed: {}", failed.message(), peer,
                                             theirs));
  } catch (const std::exception&) {
    return Status(failed.code(), fmt::format("{}; rank {} reported no failure: it died or was cut off", failed.message(),
                                             peer));
  }
}

void CommunicatorImpl::publishFailure(const Status& failed) {
  if (failurePublished_) return;
  failurePublished_ = true;
  try {
    const std::string& text = failed.message();
    store_->set(failureKey(rank_), Store::Bytes(text.begin(), text.end()), std::min(kPublishTimeout, config_.timeout));
  } catch (const std::exception& e) {
    log::warn(rank_, "{}: could not publish this rank's failure in the store: {}", name_, e.what());
  }
}

}  // namespace banyan::detail
