// Failure accounting over the control channel (resilience/control_plane.hpp).
//
// A rank whose operation fails because a peer went (its connection closed, its process exited)
// asks the control channel why, waiting a little for a notice: the first rank lost, if any
// rank has announced one, or the peer's own account if the peer failed for a reason of its own
// and said so before closing. Both are sent before their senders close any TCP connection, so a
// notice that exists is already in this rank's socket buffer when it sees such a close; the wait
// covers the control thread's turn to read it (short when the peer's process is known to have
// exited, kLookupTimeout when only a connection closed: a live peer may be about to write). Shared
// memory is the exception: a rank marks it closed the moment its operation fails, before its
// account goes out, so a peer of this host whose process still runs gets kLiveCloseWait more.
// If no word comes, this rank saw the loss first-hand: it announces it to every rank, so every
// survivor's error names the rank really lost, whether or not it talked to it, and whether or
// not the store (served by rank 0 under torchrun and mpirun) is still there.
//
// A rank that fails for a reason of its own (a timeout, a mismatched call, a close with work
// pending) sends its account the same way (leave), so peers that see it close say why.
//
// Only a mismatched call still uses the store: both ranks publish their call under
// "<prefix>call/<rank>" and read the other's, so each error names both calls. Every store call
// there is bounded well below the operation timeout.

#include "runtime/failure_accounts.hpp"

#include "common/log.hpp"
#include "runtime/call_text.hpp"

#include <algorithm>
#include <optional>

namespace banyan::detail {

namespace {

constexpr std::chrono::milliseconds kLookupTimeout{500};
constexpr std::chrono::milliseconds kExitedLookup{100};
// A peer of this host whose process still runs, seen to close: how much longer to wait for its
// word, and how long its pidfd may lag a kill (a killed process's sockets close first).
constexpr std::chrono::milliseconds kLiveCloseWait{2000};
constexpr std::chrono::milliseconds kExitSettle{50};
constexpr std::chrono::milliseconds kPublishTimeout{1000};

// `message` without a leading "<context>: " (the operation, said once already).
std::string withoutPrefix(const std::string& message, const std::string& context) {
  const std::string prefix = context + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

}  // namespace

FailureAccounts::FailureAccounts(std::shared_ptr<Store> store, const Identity& identity,
                                 std::chrono::milliseconds timeout, resilience::ControlPlane& control)
    : store_(std::move(store)), identity_(identity), timeout_(timeout), control_(control) {}

std::string FailureAccounts::describe(const Pending& pending) const {
  return describeOperation(pending, identity_.rank, identity_.size);
}

Status FailureAccounts::settle(const Status& failed, const Pending& pending) {
  // Revoked: peers shut their connections because of it, which is no loss of theirs.
  if (auto revoked = control_.revoked()) return revoked->withContext(describe(pending));
  if (failed.mismatchPeer() >= 0) {
    const Status account = explainMismatch(failed, pending);
    leave(account);
    return account;
  }
  const Status account = explainLoss(failed, describe(pending), &pending);
  // Every rank has heard of a loss already; anything else only this rank can tell.
  if (!control_.firstLoss()) leave(account);
  return account;
}

Status FailureAccounts::settleTransfer(const Status& failed, const std::string& what) {
  if (failed.lostPeer() < 0) return failed;
  if (auto revoked = control_.revoked()) return revoked->withContext(what);
  return explainLoss(failed, what, nullptr);
}

void FailureAccounts::leaving(const Status& why) { leave(why); }

void FailureAccounts::leave(const Status& account) {
  published_ = true;
  control_.leave(account.message());
}

// What a peer's account says when that peer received a message of ours that belonged to
// another call (explainMismatch writes it).
std::string FailureAccounts::aboutOurMessage() const {
  return fmt::format("rank {} sent a message of another call", identity_.rank);
}

std::string FailureAccounts::causeOf(const Status& failed) const {
  if (failed.lostPeerExited()) return "its process exited";
  return "it closed its connections and sent no failure notice: it died or was cut off";
}

Status FailureAccounts::explainLoss(const Status& failed, const std::string& operation, const Pending* pending) {
  const int peer = failed.lostPeer();
  const bool named = peer >= 0 && peer != identity_.rank && peer < identity_.size;
  const auto wait = !named ? std::chrono::milliseconds(0) : failed.lostPeerExited() ? kExitedLookup : kLookupTimeout;
  auto known = control_.causeBehind(named ? peer : -1, wait);
  if (!known && named && !failed.lostPeerExited() && control_.processRuns(peer, kExitSettle)) {
    // A rank of this host whose process runs closed its side: it failed or closed, and says
    // which (its account, its goodbye, or the loss it failed on) once its threads get a turn.
    // A shared-memory rank marks its memory closed as soon as its operation fails, before its
    // account goes out; on a loaded machine that took longer than kLookupTimeout, and this rank
    // declared a live rank lost.
    known = control_.causeBehind(peer, std::min(kLiveCloseWait, timeout_));
  }
  if (auto revoked = control_.revoked()) return revoked->withContext(operation);
  if (!known) {
    if (!named) return failed;  // a timeout, say, with no loss known anywhere
    // Nobody has said anything: this rank is the first to see `peer` go. Everyone hears it now.
    control_.announce(peer, causeOf(failed));
    known = control_.firstLoss();
    if (!known) return failed;  // (a rank this rank cannot declare lost: never so for a named peer)
  }
  using Kind = resilience::FailureNotice::Kind;
  if (known->kind == Kind::Lost) {
    const std::string cause = control_.describe(*known);
    const std::string here = withoutPrefix(failed.message(), operation);
    // (The failure may be the notice itself, passed to the running operation.)
    const std::string text = here == cause ? fmt::format("{}: {}", operation, cause)
                                           : fmt::format("{}: {} (this rank saw: {})", operation, cause, here);
    return Status(failed.code(), text).withLostPeer(known->lost, true);
  }
  // The peer failed for a reason of its own, and closed; or closed with nothing pending.
  if (pending != nullptr && known->kind == Kind::Departed &&
      known->cause.find(aboutOurMessage()) != std::string::npos) {
    // It failed on a message of ours that belonged to another call: the same mismatch seen
    // from the other side.
    if (auto both = exchangeCalls(peer, *pending)) return *both;
  }
  const char* hint = known->kind == Kind::Closed ? " (did it make fewer calls than this rank?)" : "";
  return Status(failed.code(), fmt::format("{}; {}{}", failed.message(), control_.describe(*known), hint))
      .withLostPeer(peer, failed.lostPeerExited());
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
  leave(account);
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

}  // namespace banyan::detail
