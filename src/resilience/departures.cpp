// How a rank's departure is told and learned over the control channel (control_plane.hpp): its
// account when it fails (leave), its goodbye when it closes, and, for the ranks its goodbye does
// not reach, its answer when asked or its closed port's refusal.
//
// A goodbye goes to the closing rank's ceil(log2 n) nearest live ranks on each side, not to all
// n - 1 (at 1024 thread-ranks a close took 16 s with one to every rank, n^2 datagrams each
// waking a control thread). Its readers: the two ranks that watch it (reached directly, as are
// those that would inherit it if its neighbours close in the same moment); a peer whose data
// connection with it closes, or that waits on it (causeBehind asks it); and agree()'s
// coordinator (its Propose or Query asks it). A rank that said goodbye answers whoever asks
// with its goodbye; once its channel is closed, the kernel answers for it with ICMP
// port-unreachable, which every control socket reads from its error queue (IP_RECVERR).

#include "resilience/control_plane.hpp"

#include "common/log.hpp"
#include "transports/peer_liveness.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace banyan::resilience {

namespace {

using Clock = std::chrono::steady_clock;

// How many live ranks on each side of a closing rank hear its goodbye: ceil(log2 n), at least
// 1. Its watchers are the nearest on each side; the next ones would watch it should those
// close at the same moment (their goodbyes crossing), so a run of up to this many neighbours
// closing together still tells every watcher that inherits one of them.
int goodbyeReach(int size) {
  int reach = 1;
  while ((1 << reach) < size && reach < 30) ++reach;
  return reach;
}

}  // namespace

void ControlPlane::sendGoodbye(int rank) {
  // A rank that closes after a loss names the rank lost first, ahead of its goodbye. The loss's
  // announcer sends one datagram per rank, so the fan-out is not atomic: a rank told early can
  // fail its operation and close before a rank told late has the notice, and that rank, seeing
  // the close first (the goodbye, or shared memory marked closed), took it for the cause. Seen
  // in the fault trials under load: a survivor reported "rank 0 closed its communicator with no
  // operation pending" where rank 3 had been killed. Already known there, the notice changes
  // nothing (recordLoss keeps the first).
  if (const auto loss = firstLoss()) {
    ControlMessage notice = header(MessageKind::Failure);
    notice.subject = loss->lost;
    notice.detectedBy = loss->detectedBy;
    notice.text = loss->cause;
    sendTo(rank, notice);
  }
  sendTo(rank, header(MessageKind::Goodbye));
  goodbyesSent_.fetch_add(1, std::memory_order_relaxed);
}

void ControlPlane::recordDeparture(const FailureNotice& notice) {
  {
    std::lock_guard lock(mutex_);
    auto [same, added] = departures_.try_emplace(notice.lost, notice);
    if (!added) {
      // A closing rank's goodbye follows its account of a failure: the account says more.
      if (notice.kind == FailureNotice::Kind::Closed && same->second.kind == FailureNotice::Kind::Departed) return;
      same->second = notice;
    }
  }
  changed_.notify_all();
}

void ControlPlane::leave(const std::string& account) {
  ControlMessage message = header(MessageKind::Failure);
  message.subject = rank_;
  message.detectedBy = rank_;
  message.text = account;
  sendToAllLive(message);
}

void ControlPlane::markClosed(int rank, const std::string& cause, std::unique_lock<std::mutex>& lock) {
  auto& peer = peers_[static_cast<std::size_t>(rank)];
  if (peer.gone()) {
    lock.unlock();
    return;
  }
  const auto around = neighbours();
  const bool watched = std::find(around.begin(), around.end(), rank) != around.end();
  peer.closed = true;
  std::vector<int> fresh;
  if (watched) {
    // The new neighbours beat for this rank only from when they hear the same goodbye: what
    // they were silent before was not meant for us (as after a loss, recordLoss).
    const auto now = Clock::now();
    for (int r : neighbours()) {
      peers_[static_cast<std::size_t>(r)].lastHeard = now;
      if (std::find(around.begin(), around.end(), r) == around.end()) fresh.push_back(r);
    }
  }
  const bool beating = !saidGoodbye_ && settings_.period.count() > 0;
  lock.unlock();
  recordDeparture({FailureNotice::Kind::Closed, rank, rank, rank, cause});
  if (!watched) return;  // a goodbye from anyone else changes nothing this rank watches
  if (beating) {
    // A new neighbour that closed too answers this beat with its goodbye, or its port refuses
    // it: found now, not a liveness window later.
    ControlMessage beat = header(MessageKind::Heartbeat);
    beat.entered = entered_.load(std::memory_order_relaxed);
    for (int r : fresh) sendTo(r, beat);
  }
  wake();  // the thread watches the new neighbours from now
}

void ControlPlane::sayGoodbye() {
  if (peers_.empty()) return;
  std::vector<int> told;
  {
    std::lock_guard lock(mutex_);
    if (saidGoodbye_) return;
    saidGoodbye_ = true;
    // The nearest live ranks on each side (goodbyeReach): the two that watch this rank, and
    // those that would inherit it. Everyone else learns it when it asks (handle(), and the
    // refusal of this rank's port once its channel is closed: receiveErrors()).
    const int reach = goodbyeReach(size_);
    for (const int step : {1, size_ - 1}) {
      int r = rank_;
      for (int found = 0; found < reach;) {
        r = (r + step) % size_;
        if (r == rank_) break;
        if (peers_[static_cast<std::size_t>(r)].gone()) continue;
        if (std::find(told.begin(), told.end(), r) == told.end()) told.push_back(r);
        ++found;
      }
    }
  }
  for (int r : told) sendGoodbye(r);
}

void ControlPlane::receiveErrors(int fd) {
  for (;;) {
    sockaddr_storage to{};  // the address of the datagram that met the error
    std::uint8_t data[1];
    iovec part{data, sizeof data};
    alignas(cmsghdr) std::uint8_t control[256];
    msghdr message{};
    message.msg_name = &to;
    message.msg_namelen = sizeof to;
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    if (::recvmsg(fd, &message, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;  // drained
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      const bool error = (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                         (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR);
      if (!error) continue;
      sock_extended_err what{};
      std::memcpy(&what, CMSG_DATA(c), sizeof what);
      const bool icmp = what.ee_origin == SO_EE_ORIGIN_ICMP || what.ee_origin == SO_EE_ORIGIN_ICMP6;
      if (!icmp || what.ee_errno != ECONNREFUSED) continue;  // a host or net unreachable: no news
      if (const int r = rankAt(to); r >= 0) refusedBy(r);
    }
  }
}

int ControlPlane::rankAt(const sockaddr_storage& address) const {
  for (int r = 0; r < static_cast<int>(peers_.size()); ++r) {
    const auto& peer = peers_[static_cast<std::size_t>(r)];
    if (r == rank_ || peer.addressLength == 0) continue;
    const auto* known = reinterpret_cast<const sockaddr*>(peer.address.data());
    if (known->sa_family != address.ss_family) continue;
    if (address.ss_family == AF_INET) {
      const auto& a = reinterpret_cast<const sockaddr_in&>(address);
      const auto* b = reinterpret_cast<const sockaddr_in*>(peer.address.data());
      if (a.sin_port == b->sin_port && a.sin_addr.s_addr == b->sin_addr.s_addr) return r;
    } else if (address.ss_family == AF_INET6) {
      const auto& a = reinterpret_cast<const sockaddr_in6&>(address);
      const auto* b = reinterpret_cast<const sockaddr_in6*>(peer.address.data());
      if (a.sin6_port == b->sin6_port && std::memcmp(&a.sin6_addr, &b->sin6_addr, sizeof a.sin6_addr) == 0) return r;
    }
  }
  return -1;
}

void ControlPlane::refusedBy(int rank) {
  // Whether its process surely runs: only this one (thread-ranks). Then only its channel
  // closed, and that is a close. Any other process may be dying: a killed process's sockets
  // close (and refuse) before its pidfd says it exited, so a refusal from one whose pidfd is
  // still quiet was taken for a close of a rank that had been killed (the fault-injection case
  // "a rank killed at a random moment"). That stays open, and its watchers' pidfd or heartbeats
  // decide.
  const pid_t pid = liveness_ ? liveness_->pidOf(rank) : 0;
  const bool runs = pid > 0 && pid == ::getpid();
  std::unique_lock lock(mutex_);
  auto& peer = peers_[static_cast<std::size_t>(rank)];
  if (peer.gone()) return;
  if (runs) {
    markClosed(rank, "closed its communicator (its control port refuses datagrams while its process runs)", lock);
    return;
  }
  if (peer.refused) return;
  peer.refused = true;
  lock.unlock();
  changed_.notify_all();  // agreement waits for it no more
}

std::optional<FailureNotice> ControlPlane::causeBehind(int peer, std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  const auto departure = [&]() -> const FailureNotice* {
    const auto departed = departures_.find(peer);
    return departed != departures_.end() ? &departed->second : nullptr;
  };
  if (wait.count() > 0 && peer >= 0 && peer < size_ && peer != rank_ && losses_.empty() && departure() == nullptr &&
      !peers_.empty()) {
    // Its goodbye went to its neighbours only: ask. A rank that closed answers a Query with its
    // goodbye (epoch 0 is no agreement's), and a closed port refuses it (receiveErrors).
    lock.unlock();
    ControlMessage ask = header(MessageKind::Query);
    ask.ballot.epoch = 0;
    sendTo(peer, ask);
    lock.lock();
  }
  changed_.wait_for(lock, wait, [&] { return !losses_.empty() || departure() != nullptr || revoked_; });
  if (!losses_.empty()) return losses_.front();
  if (const auto* notice = departure()) return *notice;
  return std::nullopt;
}

}  // namespace banyan::resilience
