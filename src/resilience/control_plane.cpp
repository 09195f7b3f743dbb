// The control channel (control_plane.hpp). One thread per communicator sleeps in poll() on the
// UDP socket, an eventfd that ends it, and the pidfds of this rank's neighbours on this host; it
// wakes for a datagram, an exit, or the next heartbeat.
//
// Agreement (agree()) is in agreement.cpp; goodbyes, accounts and refusals in departures.cpp.

#include "resilience/control_plane.hpp"

#include "common/host_port.hpp"
#include "common/log.hpp"
#include "transports/peer_liveness.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace banyan::resilience {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kReceiveBuffer = 4 << 20;

// Asks the kernel to queue the ICMP errors that datagrams from `fd` meet (a closed port's
// port-unreachable above all), so receiveErrors() reads which rank refused.
void reportErrors(int fd, int family) {
  const int on = 1;
  if (family == AF_INET6) {
    ::setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof on);
  } else {
    ::setsockopt(fd, SOL_IP, IP_RECVERR, &on, sizeof on);
  }
}

// A numeric host and a port -> sockaddr bytes; throws InvalidUsage naming `what`.
std::vector<std::uint8_t> resolve(const std::string& host, std::uint16_t port, unsigned& length,
                                  const std::string& what) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int err = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); err != 0 || found == nullptr) {
    fail(ErrorCode::InvalidUsage, "{}: cannot resolve '{}': {}", what, hostPortText(host, port), ::gai_strerror(err));
  }
  std::vector<std::uint8_t> bytes(found->ai_addrlen);
  std::memcpy(bytes.data(), found->ai_addr, found->ai_addrlen);
  length = static_cast<unsigned>(found->ai_addrlen);
  ::freeaddrinfo(found);
  return bytes;
}

std::string addressText(const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
    return hostPortText(host, ntohs(v6.sin6_port));
  }
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
  ::inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
  return hostPortText(host, ntohs(v4.sin_port));
}

// 'T' for a process stopped by a signal (SIGSTOP, a debugger), from /proc; 0 if unknown.
char processState(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) return 0;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : 0;
}

}  // namespace

ControlPlane::ControlPlane(int rank, int size, std::uint64_t nonce, const std::string& host, LivenessSettings settings,
                           std::string name, std::int64_t communicator)
    : rank_(rank),
      size_(size),
      nonce_(nonce),
      settings_(settings),
      name_(std::move(name)),
      logAs_{log::Subsystem::Coll, rank, communicator} {
  unsigned length = 0;
  const auto bind = resolve(host, 0, length, "the control channel's address");
  const auto* address = reinterpret_cast<const sockaddr*>(bind.data());
  family_ = address->sa_family;
  socket_ = ::socket(address->sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (socket_ < 0) fail(ErrorCode::System, "{}: control channel socket: {}", name_, errnoText(errno));
  ::setsockopt(socket_, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
  reportErrors(socket_, family_);
  if (::bind(socket_, address, length) != 0) {
    const int err = errno;
    ::close(socket_);
    fail(ErrorCode::System, "{}: control channel cannot bind {}: {}", name_, host, errnoText(err));
  }
  sockaddr_storage bound{};
  socklen_t boundLength = sizeof bound;
  ::getsockname(socket_, reinterpret_cast<sockaddr*>(&bound), &boundLength);
  address_ = addressText(bound);
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) {
    ::close(socket_);
    fail(ErrorCode::System, "{}: control channel eventfd: {}", name_, errnoText(errno));
  }
}

ControlPlane::~ControlPlane() {
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
  ::close(socket_);
  ::close(wakeFd_);
  if (otherFamilySocket_ >= 0) ::close(otherFamilySocket_);
}

void ControlPlane::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(wakeFd_, &one, sizeof one);
}

void ControlPlane::start(const std::vector<std::string>& addresses,
                         std::shared_ptr<const transport::PeerLiveness> liveness) {
  peers_.resize(static_cast<std::size_t>(size_));
  const auto now = Clock::now();
  for (int r = 0; r < size_; ++r) {
    auto& peer = peers_[static_cast<std::size_t>(r)];
    peer.lastHeard = now;
    if (r == rank_ || static_cast<std::size_t>(r) >= addresses.size() ||
        addresses[static_cast<std::size_t>(r)].empty()) {
      continue;
    }
    const std::string what = fmt::format("{}: rank {}'s control address", name_, r);
    const HostPort published = parseHostPort(addresses[static_cast<std::size_t>(r)], what);
    unsigned length = 0;
    const auto resolved = resolve(published.host, published.port, length, what);
    if (length > peer.address.size()) {
      fail(ErrorCode::InvalidUsage, "{}: '{}' is not an IPv4 or IPv6 address", what,
           addresses[static_cast<std::size_t>(r)]);
    }
    std::memcpy(peer.address.data(), resolved.data(), length);
    peer.addressLength = length;
    const auto family = reinterpret_cast<const sockaddr*>(peer.address.data())->sa_family;
    if (family != family_ && otherFamilySocket_ < 0) {
      // A peer that listens on the other family (BANYAN_SOCKET_ADDR differs between ranks):
      // our bound socket cannot send there, so datagrams to it leave from an unbound socket of
      // its family. Its answers come to our published address; receivers go by the rank in
      // the datagram, not by the address it came from.
      otherFamilySocket_ = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (otherFamilySocket_ < 0) {
        fail(ErrorCode::System, "{}: cannot reach rank {} at {}: control channel socket: {}", name_, r,
             addresses[static_cast<std::size_t>(r)], errnoText(errno));
      }
      reportErrors(otherFamilySocket_, family);
    }
  }
  after_ = (rank_ + 1) % size_;
  before_ = (rank_ - 1 + size_) % size_;
  liveness_ = std::move(liveness);
  thread_ = std::thread([this] { run(); });
}

ControlMessage ControlPlane::header(MessageKind kind) const {
  ControlMessage message;
  message.kind = kind;
  message.nonce = nonce_;
  message.from = rank_;
  return message;
}

void ControlPlane::sendTo(int rank, const ControlMessage& message) {
  if (rank == rank_ || rank < 0 || rank >= size_) return;
  const auto& peer = peers_[static_cast<std::size_t>(rank)];
  if (peer.addressLength == 0) return;
  const auto bytes = encode(message);
  // Best effort: a full socket buffer or an unreachable host loses this datagram, and the
  // protocols above resend what matters (agreement) or have a second path (the data
  // connections close too).
  const auto* to = reinterpret_cast<const sockaddr*>(peer.address.data());
  const int fd = to->sa_family == family_ ? socket_ : otherFamilySocket_;
  // An earlier datagram's ICMP error (IP_RECVERR) is reported by the next call on the socket,
  // which it fails unsent, one error per call: try again while that is what failed, so that a
  // failure notice sent after heartbeats to a dead neighbour is not lost to their refusals.
  // (The errors' details stay queued for receiveErrors.)
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto sent = ::sendto(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL, to, peer.addressLength);
    if (sent >= 0 || errno == EAGAIN || errno == EWOULDBLOCK) return;
  }
}

void ControlPlane::sendToAllLive(const ControlMessage& message) {
  std::vector<int> targets;
  {
    std::lock_guard lock(mutex_);
    for (int r = 0; r < size_; ++r) {
      if (r != rank_ && !peers_[static_cast<std::size_t>(r)].gone()) targets.push_back(r);
    }
  }
  for (int r : targets) sendTo(r, message);
}

std::vector<int> ControlPlane::neighbours() {
  std::vector<int> found;
  if (peers_.empty()) return found;
  // A rank gone stays gone, so each side's search goes on from where it last stopped: O(n) over
  // the whole run, where a scan per call made a close of n ranks (n goodbyes, each waking the
  // thread) cost O(n^2) on every rank.
  const auto gone = [&](int r) { return r != rank_ && peers_[static_cast<std::size_t>(r)].gone(); };
  while (gone(after_)) after_ = (after_ + 1) % size_;
  while (gone(before_)) before_ = (before_ - 1 + size_) % size_;
  if (after_ != rank_) found.push_back(after_);
  if (before_ != rank_ && before_ != after_) found.push_back(before_);
  return found;
}

void ControlPlane::run() {
  const bool beating = settings_.period.count() > 0;
  auto nextBeat = Clock::now();
  while (!stopping_) {
    std::vector<pollfd> fds{{socket_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    // The other family's socket receives nothing, but its ICMP errors (POLLERR) name ranks too.
    if (otherFamilySocket_ >= 0) fds.push_back({otherFamilySocket_, 0, 0});
    const std::size_t firstWatched = fds.size();
    std::vector<int> watched;
    std::vector<int> around;
    {
      std::lock_guard lock(mutex_);
      // A rank that said goodbye watches nobody and beats for nobody: its neighbours stopped
      // beating for it when they heard the goodbye, so their silence now is no news (at 512
      // thread-ranks a close that took over a window declared live neighbours lost).
      if (!saidGoodbye_) around = neighbours();
    }
    for (int r : around) {
      const int fd = liveness_ ? liveness_->descriptor(r) : -1;
      if (fd < 0) continue;
      fds.push_back({fd, POLLIN, 0});
      watched.push_back(r);
    }
    int timeout = -1;
    if (beating) {
      timeout = static_cast<int>(std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(nextBeat - Clock::now()).count()));
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout);
    if (stopping_) break;
    if (ready < 0 && errno != EINTR) {
      log::warn(logAs_, "{}: the control channel stops: poll failed: {}", name_, errnoText(errno));
      break;
    }
    if (fds[0].revents & POLLIN) receiveAll();
    // After the datagrams: a goodbye that came says more than its port's refusal after it.
    if (fds[0].revents & POLLERR) receiveErrors(socket_);
    if (firstWatched > 2 && (fds[2].revents & POLLERR)) receiveErrors(otherFamilySocket_);
    for (std::size_t i = 0; i < watched.size(); ++i) {
      if (fds[i + firstWatched].revents & (POLLIN | POLLHUP)) {
        // Whatever it sent before it exited (a goodbye, its account) counts first.
        receiveAll();
        announce(watched[i], fmt::format("its process (pid {}, on this host) exited",
                                         static_cast<long>(liveness_->pidOf(watched[i]))));
      }
    }
    const auto now = Clock::now();
    if (beating && now >= nextBeat) {
      if (now - nextBeat > settings_.period) {
        // This thread itself did not run for over a period (the machine was paused or
        // overloaded): the silence it would see is its own, so nobody is blamed for it.
        std::lock_guard lock(mutex_);
        for (auto& peer : peers_) peer.lastHeard = now;
      }
      ControlMessage beat = header(MessageKind::Heartbeat);
      beat.entered = entered_.load(std::memory_order_relaxed);
      for (int r : around) sendTo(r, beat);
      checkNeighbours(now);
      nextBeat = now + settings_.period;
    }
  }
}

void ControlPlane::receiveAll() {
  std::uint8_t buffer[kMaxDatagram];
  for (int errors = 0;;) {
    const auto got = ::recv(socket_, buffer, sizeof buffer, 0);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // drained
      // An ICMP error reported once (IP_RECVERR; receiveErrors reads which rank): the
      // datagrams queued behind it are still there.
      if (++errors > 8) return;
      continue;
    }
    const auto message = decode(buffer, static_cast<std::size_t>(got));
    // Another job's or a stranger's datagram, or a rank number out of range: not ours.
    if (!message || message->nonce != nonce_ || message->from >= size_ || message->from == rank_) continue;
    handle(*message);
  }
}

void ControlPlane::handle(const ControlMessage& m) {
  std::unique_lock lock(mutex_);
  auto& sender = peers_[static_cast<std::size_t>(m.from)];
  // A rank declared lost stays lost (its later words would contradict what survivors acted on).
  if (sender.lost) return;
  sender.lastHeard = Clock::now();
  if (saidGoodbye_ &&
      (m.kind == MessageKind::Heartbeat || m.kind == MessageKind::Query || m.kind == MessageKind::Propose)) {
    // A rank that still counts this one live (it was told nothing: it watches this rank since
    // its neighbour closed, or waits for it in agreement, or asks why its connection closed)
    // hears the goodbye now.
    lock.unlock();
    sendGoodbye(m.from);
    lock.lock();
  }
  switch (m.kind) {
    case MessageKind::Heartbeat:
      sender.entered = m.entered;
      sender.heard = true;
      return;
    case MessageKind::Failure: {
      if (m.subject >= size_) return;
      if (m.subject == rank_) {
        // A peer gave up on this rank (it stopped longer than the liveness window, or was cut
        // off): the others act without it now, so it must not go on as if nothing happened.
        if (declaredLost_) return;
        declaredLost_ = true;
        revoked_ = Status::make(ErrorCode::Remote,
                                "rank {} declared this rank (rank {}) lost ({}): it was stopped or unreachable for "
                                "longer than the liveness window",
                                m.detectedBy, rank_, m.text);
        const Status why = *revoked_;
        broken_.store(true, std::memory_order_release);
        lock.unlock();
        changed_.notify_all();
        if (onBreak_) onBreak_(why);
        return;
      }
      if (m.subject == m.from) {
        lock.unlock();
        recordDeparture({FailureNotice::Kind::Departed, m.from, m.from, m.from, m.text});
        return;
      }
      const FailureNotice notice{FailureNotice::Kind::Lost, m.subject, m.detectedBy, m.from, m.text};
      lock.unlock();
      if (recordLoss(notice)) lossRecorded(notice);
      return;
    }
    case MessageKind::Goodbye:
      markClosed(m.from, "closed its communicator with no operation pending", lock);
      return;
    case MessageKind::Revoke: {
      if (revoked_) return;
      revoked_ = Status::make(ErrorCode::Aborted, "{} was revoked by rank {}: {}", name_, m.subject, m.text);
      const Status why = *revoked_;
      broken_.store(true, std::memory_order_release);
      const auto around = neighbours();
      lock.unlock();
      changed_.notify_all();
      // Passed on to the neighbours once, so a datagram lost on the way does not leave a rank
      // unaware.
      ControlMessage forward = m;
      forward.from = rank_;
      for (int r : around) sendTo(r, forward);
      if (onBreak_) onBreak_(why);
      return;
    }
    case MessageKind::Propose: {
      proposals_[m.ballot.epoch][m.from] = m.ballot;
      if (auto decided = decisions_.find(m.ballot.epoch); decided != decisions_.end()) {
        ControlMessage answer = header(MessageKind::Decide);
        answer.ballot = decided->second;
        lock.unlock();
        sendTo(m.from, answer);
      } else {
        lock.unlock();
      }
      changed_.notify_all();
      return;
    }
    case MessageKind::Query: {
      ControlMessage answer;
      if (auto decided = decisions_.find(m.ballot.epoch); decided != decisions_.end()) {
        answer = header(MessageKind::Decide);
        answer.ballot = decided->second;
      } else if (auto mine = myBallots_.find(m.ballot.epoch); mine != myBallots_.end()) {
        answer = header(MessageKind::Propose);
        answer.ballot = mine->second;
      } else {
        return;  // this rank has not reached that agree() yet; it proposes when it does
      }
      lock.unlock();
      sendTo(m.from, answer);
      return;
    }
    case MessageKind::Decide:
      decisions_.emplace(m.ballot.epoch, m.ballot);
      lock.unlock();
      changed_.notify_all();
      return;
  }
}

bool ControlPlane::recordLoss(const FailureNotice& notice) {
  {
    std::lock_guard lock(mutex_);
    if (peers_.empty() || notice.lost < 0 || notice.lost >= size_ || notice.lost == rank_) return false;
    auto& peer = peers_[static_cast<std::size_t>(notice.lost)];
    // A rank that said goodbye owes nobody anything: its exit is no loss.
    if (peer.lost || peer.closed) return false;
    peer.lost = true;
    losses_.push_back(notice);
    // New neighbours take over the watch; their silence so far was not meant for us.
    const auto now = Clock::now();
    for (auto& other : peers_) other.lastHeard = now;
  }
  changed_.notify_all();
  wake();  // the thread watches the new neighbours from now
  return true;
}

void ControlPlane::lossRecorded(const FailureNotice& notice) {
  broken_.store(true, std::memory_order_release);
  log::warn(logAs_, "{}: {}", name_, describe(notice));
  if (onBreak_) onBreak_(statusOf(notice));
}

void ControlPlane::announce(int lost, const std::string& cause) {
  const FailureNotice notice{FailureNotice::Kind::Lost, lost, rank_, rank_, cause};
  if (!recordLoss(notice)) return;
  // Everyone first, then this rank's own operations: survivors learn the true cause before
  // they see this rank's connections close.
  ControlMessage message = header(MessageKind::Failure);
  message.subject = lost;
  message.detectedBy = rank_;
  message.text = cause;
  sendToAllLive(message);
  // The lost rank too: if it was only stopped or cut off for a while, it learns that the others
  // go on without it (handle(), Failure about oneself).
  sendTo(lost, message);
  lossRecorded(notice);
}

void ControlPlane::checkNeighbours(Clock::time_point now) {
  std::vector<std::pair<int, std::string>> silent;
  {
    std::lock_guard lock(mutex_);
    // Declared lost itself (it was stopped, say): the others no longer send it heartbeats, and
    // their silence now is no news.
    if (declaredLost_ || saidGoodbye_) return;
    for (int r : neighbours()) {
      const auto& peer = peers_[static_cast<std::size_t>(r)];
      // A neighbour never heard from may still be setting up (ranks start their channels a
      // little apart): three windows before it counts as silent.
      const auto window = peer.heard ? settings_.window() : 3 * settings_.window();
      if (now - peer.lastHeard > window) silent.emplace_back(r, silenceCause(r, now - peer.lastHeard, peer.entered));
    }
  }
  for (const auto& [r, cause] : silent) announce(r, cause);
}

std::string ControlPlane::silenceCause(int rank, Clock::duration silent, std::uint64_t entered) const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(silent).count();
  std::string where;
  if (const pid_t pid = liveness_ ? liveness_->pidOf(rank) : 0; pid > 0 && processState(pid) == 'T') {
    where = fmt::format("; its process (pid {}, on this host) is stopped", static_cast<long>(pid));
  }
  const std::string last = entered == 0
                               ? std::string("its last heartbeat said it had entered no operation yet")
                               : fmt::format("its last heartbeat said it had entered operation #{}", entered - 1);
  return fmt::format(
      "stopped responding: no heartbeat for {:.1f} s (BANYAN_HEARTBEAT_MS={} x BANYAN_HEARTBEAT_MISSES={}); "
      "{}{}",
      static_cast<double>(ms) / 1000.0, settings_.period.count(), settings_.misses, last, where);
}

std::optional<FailureNotice> ControlPlane::firstLoss(std::chrono::milliseconds wait) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, wait, [this] { return !losses_.empty(); });
  if (losses_.empty()) return std::nullopt;
  return losses_.front();
}

std::optional<FailureNotice> ControlPlane::lossOf(int rank, std::chrono::milliseconds wait) const {
  std::unique_lock lock(mutex_);
  const auto find = [&]() -> const FailureNotice* {
    for (const auto& notice : losses_) {
      if (notice.lost == rank) return &notice;
    }
    const auto departed = departures_.find(rank);
    return departed != departures_.end() ? &departed->second : nullptr;
  };
  changed_.wait_for(lock, wait, [&] { return find() != nullptr; });
  if (const auto* notice = find()) return *notice;
  return std::nullopt;
}

bool ControlPlane::isLost(int rank) const {
  std::lock_guard lock(mutex_);
  return rank >= 0 && static_cast<std::size_t>(rank) < peers_.size() && peers_[static_cast<std::size_t>(rank)].lost;
}

bool ControlPlane::processRuns(int rank, std::chrono::milliseconds settle) const {
  return liveness_ && liveness_->pidOf(rank) > 0 && !liveness_->exited(rank, settle);
}

std::vector<int> ControlPlane::lost() const {
  std::lock_guard lock(mutex_);
  std::vector<int> ranks;
  for (int r = 0; r < static_cast<int>(peers_.size()); ++r) {
    if (peers_[static_cast<std::size_t>(r)].lost) ranks.push_back(r);
  }
  return ranks;
}

std::string ControlPlane::describe(const FailureNotice& notice) const {
  if (notice.kind == FailureNotice::Kind::Departed) {
    return fmt::format("rank {} had failed before it closed: {}", notice.lost, notice.cause);
  }
  if (notice.kind == FailureNotice::Kind::Closed) return fmt::format("rank {} {}", notice.lost, notice.cause);
  std::string seen;
  if (notice.detectedBy != rank_) {
    seen = notice.learnedFrom == notice.detectedBy
               ? fmt::format(" (seen by rank {})", notice.detectedBy)
               : fmt::format(" (seen by rank {}, learned from rank {})", notice.detectedBy, notice.learnedFrom);
  }
  return fmt::format("rank {} was lost: {}{}", notice.lost, notice.cause, seen);
}

Status ControlPlane::statusOf(const FailureNotice& notice) const {
  return Status(ErrorCode::Remote, describe(notice)).withLostPeer(notice.lost, true);
}

void ControlPlane::revoke(const std::string& reason) {
  Status why;
  {
    std::lock_guard lock(mutex_);
    if (revoked_) return;
    revoked_ = Status::make(ErrorCode::Aborted, "{} was revoked by rank {}: {}", name_, rank_, reason);
    why = *revoked_;
    broken_.store(true, std::memory_order_release);
  }
  changed_.notify_all();
  ControlMessage message = header(MessageKind::Revoke);
  message.subject = rank_;
  message.text = reason;
  sendToAllLive(message);
  if (onBreak_) onBreak_(why);
}

Status ControlPlane::breakStatus() const {
  std::lock_guard lock(mutex_);
  if (revoked_) return *revoked_;
  if (!losses_.empty()) return statusOf(losses_.front());
  return Status::ok();
}

std::optional<Status> ControlPlane::revoked() const {
  std::lock_guard lock(mutex_);
  return revoked_;
}

}  // namespace banyan::resilience
