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

#include "runtime/failure_accounts.hpp"

#include "common/log.hpp"
#include "runtime/call_text.hpp"

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

FailureAccounts::FailureAccounts(std::shared_ptr<Store> store, const Identity& identity,
                                 std::chrono::milliseconds timeout)
    : store_(std::move(store)), identity_(identity), timeout_(timeout) {}

std::string FailureAccounts::key(int rank) const { return fmt::format("{}failed/{}", identity_.prefix, rank); }

std::string FailureAccounts::describe(const Pending& pending) const {
  return describeOperation(pending, identity_.rank, identity_.size);
}

// Say why before closing, so peers that see us go can tell: first what we know now (our engines
// may already look closed to peers, and finding out more can take a store wait), then the fuller
// account. (A mismatch publishes its own first account at once: explainMismatch.)
Status FailureAccounts::settle(const Status& failed, const Pending& pending) {
  Status account = failed;
  if (failed.mismatchPeer() >= 0) {
    account = explainMismatch(failed, pending);
  } else {
    publish(failed, false);
    account = explainLoss(failed, pending);
  }
  publish(account, true);
  return account;
}

// What a peer's account says when that peer received a message of ours that belonged to
// another call (explainMismatch writes it).
std::string FailureAccounts::aboutOurMessage() const {
  return fmt::format("rank {} sent a message of another call", identity_.rank);
}

std::optional<std::string> FailureAccounts::lookUpAccount(int peer, bool exited) {
  const auto bound = std::min(kLookupTimeout, timeout_);
  const std::string account = key(peer);
  const auto current = [&]() -> std::optional<std::string> {
    if (!store_->check({account}, bound)) return std::nullopt;
    const auto bytes = store_->get(account, bound);
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
    if (store_->check({account + "/final"}, bound)) return current();
    if (auto first = current(); first && first->find(aboutOurMessage()) != std::string::npos) return first;
    if (std::chrono::steady_clock::now() >= deadline) return current();
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status FailureAccounts::explainLoss(const Status& failed, const Pending& pending) {
  const int peer = failed.lostPeer();
  if (peer < 0 || peer == identity_.rank || peer >= identity_.size) return failed;
  const auto died = [&] {
    return Status(failed.code(),
                  fmt::format("{}; rank {} reported no failure: it died or was cut off", failed.message(), peer));
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
    return Status(failed.code(),
                  fmt::format("{}; rank {} had failed before it closed: {}", failed.message(), peer, theirs));
  } catch (const std::exception&) {
    // The store did not answer within the bound (its server may have died with the peer).
    return died();
  }
}

Status FailureAccounts::explainMismatch(const Status& failed, const Pending& pending) {
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
                                   "rank must make the same calls in the same order)",
                                   describe(pending), peer, inCall, identity_.rank, mine));
  // First what we know, for peers that see us close while we wait for the peer's side.
  publish(account, false);
  if (auto both = exchangeCalls(peer, pending)) return *both;
  return account;
}

std::optional<Status> FailureAccounts::exchangeCalls(int peer, const Pending& pending) {
  const std::string mine = describeCall(pending);
  const auto callKey = [this](int rank) { return fmt::format("{}call/{}", identity_.prefix, rank); };
  try {
    store_->set(callKey(identity_.rank), Store::Bytes(mine.begin(), mine.end()), std::min(kPublishTimeout, timeout_));
    // The peer found our message unexpected too (or learnt of it from our account), and
    // publishes its call the same way.
    const auto bytes = store_->get(callKey(peer), std::min(kLookupTimeout, timeout_));
    const std::string theirs(bytes.begin(), bytes.end());
    return Status(ErrorCode::InvalidUsage,
                  fmt::format("{}: rank {} called {} while rank {} called {} (every rank must make the same calls "
                              "in the same order)",
                              describe(pending), peer, theirs, identity_.rank, mine));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Publishing again replaces the earlier account (explainMismatch and onDone publish a first one
// early). The final mark goes after the account, so a reader that sees it reads the final text.
void FailureAccounts::publish(const Status& failed, bool final) {
  published_ = true;
  try {
    const std::string& text = failed.message();
    const auto bound = std::min(kPublishTimeout, timeout_);
    store_->set(key(identity_.rank), Store::Bytes(text.begin(), text.end()), bound);
    if (final) store_->set(key(identity_.rank) + "/final", {}, bound);
  } catch (const std::exception& e) {
    log::warn(identity_.rank, "{}: could not publish this rank's failure in the store: {}", identity_.name, e.what());
  }
}

}  // namespace banyan::detail
