// Failure propagation through the store. When a rank's operation fails, the rank writes why
// under "<prefix>failed/<rank>" before it shuts its connections down. A rank that then loses a
// peer (its connection closed, its process exited) looks that key up: if the peer had failed
// first, the error says so and carries the peer's own reason (which may in turn name the rank
// that really died); if the peer left no word, the peer itself is the one that died or was cut
// off. So every survivor's error names the first rank lost, not only the neighbour that
// happened to close on it.
//
// A rank may write two accounts: a first one at once, with what it knows when its operation
// fails, and its final one once it has looked up its own lost peer (which names the rank that
// really died); "<prefix>failed/<rank>/final" marks the final one as written. A reader waits
// for that mark, so it reads the whole chain, not a first account written a moment too early.
//
// Whether to wait at all depends on how the peer went. A peer whose process has ended (the
// shared-memory transports see the exit) writes nothing more: one store check (answered at
// once, Store::check) says whether it left an account, and a rank that died without one is
// reported at once. A peer whose connection merely closed may be a live rank that is about to
// write (the shared-memory transport raises its closed flag, and TCP closes the connections to
// a peer that sent a message of another call, before the runtime writes the account): for it
// the reader waits for the final mark, up to kLookupTimeout, as before.
//
// Every store call is bounded well below the operation timeout: this runs on the failure path
// only, on the driving thread, and the store itself may be gone (its server may have been on
// the rank that died).

#include "runtime/communicator_impl.hpp"

#include "common/hash_mix.hpp"
#include "common/log.hpp"

#include <optional>
#include <thread>

namespace banyan::detail {

namespace {

constexpr std::chrono::milliseconds kLookupTimeout{500};
constexpr std::chrono::milliseconds kPublishTimeout{1000};
// Between looks at a live peer's account (lookUpAccount): its final account usually follows its
// first within milliseconds.
constexpr std::chrono::milliseconds kPollInterval{2};

}  // namespace

std::string CommunicatorImpl::failureKey(int rank) const { return fmt::format("{}failed/{}", prefix_, rank); }

// What a peer's account says when that peer received a message of ours that belonged to
// another call (explainMismatch writes it).
std::string CommunicatorImpl::aboutOurMessage() const {
  return fmt::format("rank {} sent a message of another call", rank_);
}

std::optional<std::string> CommunicatorImpl::lookUpAccount(int peer, bool exited) {
  const auto bound = std::min(kLookupTimeout, config_.timeout);
  const std::string key = failureKey(peer);
  const auto current = [&]() -> std::optional<std::string> {
    if (!store_->check({key}, bound)) return std::nullopt;
    const auto bytes = store_->get(key, bound);
    return std::string(bytes.begin(), bytes.end());
  };
  if (exited) return current();
  // Until the final mark, or the bound. A peer that found our message to be of another call
  // waits for our call (exchangeCalls) before it writes its final account, so its first
  // account, which says so, is answered at once: waiting for each other would end both
  // look-ups at their bounds without the other's call. Hence polling the two keys (one round
  // trip each, every kPollInterval) rather than one blocking wait on the mark.
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    if (store_->check({key + "/final"}, bound)) return current();
    if (auto first = current(); first && first->find(aboutOurMessage()) != std::string::npos) return first;
    if (std::chrono::steady_clock::now() >= deadline) return current();
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status CommunicatorImpl::explainLoss(const Status& failed, const Pending& pending) {
  const int peer = failed.lostPeer();
  if (peer < 0 || peer == rank_ || peer >= size_) return failed;
  const auto died = [&] {
    return Status(failed.code(), fmt::format("{}; rank {} reported no failure: it died or was cut off", failed.message(),
                                             peer));
  };
  try {
    const auto account = lookUpAccount(peer, failed.lostPeerExited());
    if (!account) return died();
    const std::string& theirs = *account;
    // The peer failed on a message of ours that belonged to another call, and closed before we
    // read its message: this is the same mismatch seen from the other side.
    if (theirs.find(aboutOurMessage()) != std::string::npos) {
      if (auto both = exchangeCalls(peer, pending)) return *both;
    }
    return Status(failed.code(), fmt::format("{}; rank {} had failed before it closed: {}", failed.message(), peer,
                                             theirs));
  } catch (const std::exception&) {
    // The store did not answer within the bound (its server may have died with the peer).
    return died();
  }
}

std::uint16_t CommunicatorImpl::fingerprint(const Request& r) {
  HashMix mix;
  mix.add(static_cast<std::uint64_t>(r.kind)).add(static_cast<std::uint64_t>(r.type));
  if (reduces(r.kind)) mix.add(static_cast<std::uint64_t>(r.op));
  if (isRooted(r.kind)) mix.add(static_cast<std::uint64_t>(r.root));
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
  if (reduces(r.kind)) args += fmt::format(",{}", toString(r.op));
  if (isRooted(r.kind)) args += fmt::format(",root={}", r.root);
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
  publishFailure(account, false);
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

// Publishing again replaces the earlier account (explainMismatch and onDone publish a first one
// early). The final mark goes after the account, so a reader that sees it reads the final text.
void CommunicatorImpl::publishFailure(const Status& failed, bool final) {
  failurePublished_ = true;
  try {
    const std::string& text = failed.message();
    const auto bound = std::min(kPublishTimeout, config_.timeout);
    store_->set(failureKey(rank_), Store::Bytes(text.begin(), text.end()), bound);
    if (final) store_->set(failureKey(rank_) + "/final", {}, bound);
  } catch (const std::exception& e) {
    log::warn(rank_, "{}: could not publish this rank's failure in the store: {}", name_, e.what());
  }
}

}  // namespace banyan::detail
