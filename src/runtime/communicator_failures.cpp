// Failure propagation through the store. When a rank's operation fails, the rank writes why
// under "<prefix>failed/<rank>" before it shuts its connections down. A rank that then loses a
// peer (its connection closed, its process exited) looks that key up: if the peer had failed
// first, the error says so and carries the peer's own reason (which may in turn name the rank
// that really died); if the peer left no word, the peer itself is the one that died or was cut
// off. So every survivor's error names the first rank lost, not only the neighbour that
// happened to close on it.
//
// The lookup does not wait for the key: a rank publishes its account before any of its
// connections can look closed (communicator_progress.cpp's onDone, failEverything), so when we
// see a peer go, its account is either in the store already or will never be. A check answers
// that in one round trip, and a rank that died reports as lost at once rather than after a
// wait for a key that cannot come.
//
// Every store call is bounded well below the operation timeout: this runs on the failure path
// only, on the driving thread, and the store itself may be gone (its server may have been on
// the rank that died).

#include "runtime/communicator_impl.hpp"

#include "common/hash_mix.hpp"
#include "common/log.hpp"

#include <optional>

namespace banyan::detail {

namespace {

constexpr std::chrono::milliseconds kLookupTimeout{500};
constexpr std::chrono::milliseconds kPublishTimeout{1000};

}  // namespace

std::string CommunicatorImpl::failureKey(int rank) const { return fmt::format("{}failed/{}", prefix_, rank); }

Status CommunicatorImpl::explainLoss(const Status& failed, const Pending& pending) {
  const int peer = failed.lostPeer();
  if (peer < 0 || peer == rank_ || peer >= size_) return failed;
  try {
    const auto bound = std::min(kLookupTimeout, config_.timeout);
    if (!store_->check({failureKey(peer)}, bound)) {
      return Status(failed.code(), fmt::format("{}; rank {} reported no failure: it died or was cut off",
                                               failed.message(), peer));
    }
    const auto bytes = store_->get(failureKey(peer), bound);
    const std::string theirs(bytes.begin(), bytes.end());
    // The peer failed on a message of ours that belonged to another call, and closed before we
    // read its message: this is the same mismatch seen from the other side.
    if (theirs.find(fmt::format("rank {} sent a message of another call", rank_)) != std::string::npos) {
      if (auto both = exchangeCalls(peer, pending)) return *both;
    }
    return Status(failed.code(), fmt::format("{}; rank {} had failed before it closed: {}", failed.message(), peer,
                                             theirs));
  } catch (const std::exception&) {
    // The store did not answer within the bound (its server may have died with the peer).
    return Status(failed.code(), fmt::format("{}; rank {} reported no failure: it died or was cut off", failed.message(),
                                             peer));
  }
}

std::uint16_t CommunicatorImpl::fingerprint(const Request& r) {
  HashMix mix;
  mix.add(static_cast<std::uint64_t>(r.kind)).add(static_cast<std::uint64_t>(r.type));
  if (runtime::reduces(r.kind)) mix.add(static_cast<std::uint64_t>(r.op));
  if (runtime::isRooted(r.kind)) mix.add(static_cast<std::uint64_t>(r.root));
  // Alltoallv's count is what this rank sends, which differs between ranks by design.
  if (r.kind != Collective::Alltoallv) mix.add(r.count);
  // Folded to the 16 bits a message tag has room for.
  const std::uint64_t h = mix.value();
  return static_cast<std::uint16_t>(h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48));
}

std::string CommunicatorImpl::describeCall(const Pending& p) const {
  const Request& r = p.request;
  if (r.kind == Collective::Barrier) return fmt::format("barrier() #{}", p.sequence);
  std::string args = fmt::format("count={},{}", r.count, toString(r.type));
  if (runtime::reduces(r.kind)) args += fmt::format(",{}", toString(r.op));
  if (runtime::isRooted(r.kind)) args += fmt::format(",root={}", r.root);
  return fmt::format("{}({}) #{}", name(r.kind), args, p.sequence);
}

Status CommunicatorImpl::explainMismatch(const Status& failed, const Pending& pending) {
  const int peer = failed.mismatchPeer();
  const std::string mine = describeCall(pending);
  // The peer's tag says which of its calls the message belongs to, and that call's fingerprint.
  const std::uint64_t theirSequence = failed.mismatchTag() >> 16;
  const std::string inCall =
      failed.mismatchTag() == 0 ? std::string("its message does not fit this call")
      : theirSequence == pending.sequence
          ? fmt::format("its call #{} differs from this one (kind, count, type, op or root)", theirSequence)
          : fmt::format("it is in its call #{}, this rank in #{}", theirSequence, pending.sequence);
  const Status account(ErrorCode::InvalidUsage,
                       fmt::format("{}: rank {} sent a message of another call ({}) while rank {} called {} (every "
                                   "rank must make the same calls in the same order)", describe(pending), peer, inCall,
                                   rank_, mine));
  // First what we know, for peers that see us close while we wait for the peer's side.
  publishFailure(account);
  if (auto both = exchangeCalls(peer, pending)) return *both;
  return account;
}

std::optional<Status> CommunicatorImpl::exchangeCalls(int peer, const Pending& pending) {
  const std::string mine = describeCall(pending);
  const auto key = [this](int rank) { return fmt::format("{}call/{}", prefix_, rank); };
  try {
    store_->set(key(rank_), Store::Bytes(mine.begin(), mine.end()), std::min(kPublishTimeout, config_.timeout));
    // The peer found our message unexpected too (or learnt of it from our account), and
    // publishes its call the same way.
    const auto bytes = store_->get(key(peer), std::min(kLookupTimeout, config_.timeout));
    const std::string theirs(bytes.begin(), bytes.end());
    return Status(ErrorCode::InvalidUsage,
                  fmt::format("{}: rank {} called {} while rank {} called {} (every rank must make the same calls "
                              "in the same order)", describe(pending), peer, theirs, rank_, mine));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Publishing again replaces the earlier account (explainMismatch publishes a first one early).
void CommunicatorImpl::publishFailure(const Status& failed) {
  failurePublished_ = true;
  try {
    const std::string& text = failed.message();
    store_->set(failureKey(rank_), Store::Bytes(text.begin(), text.end()), std::min(kPublishTimeout, config_.timeout));
  } catch (const std::exception& e) {
    log::warn(rank_, "{}: could not publish this rank's failure in the store: {}", name_, e.what());
  }
}

}  // namespace banyan::detail
