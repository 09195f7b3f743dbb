// ControlPlane::agree(): fault-tolerant agreement over the control channel
// (control_plane.hpp).
//
// A rotating-coordinator protocol over the same socket. The coordinator is the
// lowest rank this rank does not know to be lost. Everyone else sends it a Propose (its flag
// and the ranks it knows lost) every kResend until a Decide comes back; the coordinator, once
// it holds a Propose from every rank it believes alive (asking the missing ones with Query),
// decides: the AND of the flags and the union of the lost ranks (less any rank that proposed:
// it is alive). A rank that has decided answers any later Propose or Query of that epoch with
// the decision, so if the coordinator dies halfway through sending it, the next coordinator
// (the next lowest survivor) hears of it from whoever got it and adopts it rather than
// deciding anew: every survivor that returns returns the same. Losses are learnt from notices
// and heartbeats, so a coordinator that dies or stops is replaced within the liveness window.
// A rank that closed told only its neighbours (sayGoodbye): the others learn it here, when their
// Propose or Query reaches it, from its goodbye in answer or its port's refusal (ICMP), and
// wait for it no more; it is named among the failed, as before.

#include "resilience/control_plane.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>

namespace banyan::resilience {

namespace {
using Clock = std::chrono::steady_clock;
// Between resends of a Propose or Query: a datagram lost on the way costs this much.
constexpr std::chrono::milliseconds kResend{50};
}  // namespace

// mutex_ held. A rank the others declared lost takes no part: they agree without it.
void ControlPlane::throwIfDeclaredLost() const {
  if (declaredLost_) {
    fail(ErrorCode::Remote, "{}: the other ranks go on without this one: {}", name_, revoked_->message());
  }
}

Agreement ControlPlane::agree(std::uint64_t flag, const std::function<std::string()>& makePayload,
                              Clock::time_point deadline) {
  std::uint64_t epoch = 0;
  {
    std::lock_guard lock(mutex_);
    if (peers_.empty()) fail(ErrorCode::InvalidUsage, "{}: agree() before the control channel started", name_);
    throwIfDeclaredLost();
    epoch = ++epochs_;
    Ballot mine{epoch, flag, {}, {}};
    for (int r = 0; r < size_; ++r) {
      if (peers_[static_cast<std::size_t>(r)].absent()) mine.failed.push_back(r);
    }
    if (mine.failed.size() > kMaxFailedRanks) {
      fail(ErrorCode::NotSupported, "{}: agree() with {} failed ranks: at most {} fit in one datagram", name_,
           mine.failed.size(), kMaxFailedRanks);
    }
    myBallots_[epoch] = std::move(mine);
  }
  auto nextSend = Clock::now();
  for (;;) {
    const auto now = Clock::now();
    const bool resend = now >= nextSend;
    if (resend) nextSend = now + kResend;
    if (auto decided = coordinate(epoch, makePayload, resend)) {
      Agreement result{decided->flag, decided->failed, decided->payload, -1};
      if (!result.failed.empty() && std::binary_search(result.failed.begin(), result.failed.end(), rank_)) {
        fail(ErrorCode::Remote, "{}: the survivors agreed that this rank (rank {}) had failed", name_, rank_);
      }
      for (int r = 0; r < size_; ++r) {
        if (!std::binary_search(result.failed.begin(), result.failed.end(), r)) {
          result.coordinator = r;
          break;
        }
      }
      return result;
    }
    if (now >= deadline) {
      const auto known = lost();
      fail(ErrorCode::Timeout, "{}: agree() reached no decision in time (BANYAN_TIMEOUT); ranks known lost: {}", name_,
           known.empty() ? std::string("none") : fmt::format("{}", fmt::join(known, ", ")));
    }
    std::unique_lock lock(mutex_);
    throwIfDeclaredLost();
    changed_.wait_until(lock, std::min(nextSend, deadline));
  }
}

// One look at the agreement of `epoch`: its decision if there is one (as the coordinator,
// making it once every live rank has proposed); otherwise sends what this rank's role calls for.
std::optional<Ballot> ControlPlane::coordinate(std::uint64_t epoch, const std::function<std::string()>& makePayload,
                                               bool resend) {
  std::unique_lock lock(mutex_);
  int coordinator = -1;
  for (int r = 0; r < size_ && coordinator < 0; ++r) {
    if (!peers_[static_cast<std::size_t>(r)].absent()) coordinator = r;
  }
  if (auto decided = decisions_.find(epoch); decided != decisions_.end()) {
    Ballot decision = decided->second;
    if (coordinator == rank_ && resend) {
      // Adopted from a rank that had it from a coordinator now gone: pass it on to all.
      lock.unlock();
      ControlMessage message = header(MessageKind::Decide);
      message.ballot = decision;
      sendToAllLive(message);
    }
    return decision;
  }
  const Ballot mine = myBallots_[epoch];
  if (coordinator != rank_) {
    lock.unlock();
    if (resend) {
      ControlMessage message = header(MessageKind::Propose);
      message.ballot = mine;
      sendTo(coordinator, message);
    }
    return std::nullopt;
  }
  const auto& received = proposals_[epoch];
  std::vector<int> missing;
  for (int r = 0; r < size_; ++r) {
    if (r != rank_ && !peers_[static_cast<std::size_t>(r)].absent() && received.find(r) == received.end()) {
      missing.push_back(r);
    }
  }
  if (!missing.empty()) {
    lock.unlock();
    if (resend) {
      ControlMessage query = header(MessageKind::Query);
      query.ballot.epoch = epoch;
      for (int r : missing) sendTo(r, query);
    }
    return std::nullopt;
  }
  Ballot decision{epoch, mine.flag, {}, {}};
  std::set<int> failed(mine.failed.begin(), mine.failed.end());
  std::set<int> proposed{rank_};
  for (const auto& [r, ballot] : received) {
    if (peers_[static_cast<std::size_t>(r)].absent()) continue;
    decision.flag &= ballot.flag;
    failed.insert(ballot.failed.begin(), ballot.failed.end());
    proposed.insert(r);
  }
  for (int r = 0; r < size_; ++r) {
    if (peers_[static_cast<std::size_t>(r)].absent()) failed.insert(r);
  }
  for (int r : proposed) failed.erase(r);  // a rank that proposed is alive, whoever suspected it
  decision.failed.assign(failed.begin(), failed.end());
  lock.unlock();
  decision.payload = makePayload ? makePayload() : std::string();
  lock.lock();
  // A Decide may have come in meanwhile (adopted above on the next look); ours stands otherwise.
  decision = decisions_.emplace(epoch, decision).first->second;
  lock.unlock();
  changed_.notify_all();
  ControlMessage message = header(MessageKind::Decide);
  message.ballot = decision;
  sendToAllLive(message);
  return decision;
}

}  // namespace banyan::resilience
