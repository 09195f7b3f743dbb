#include "p2p/point_to_point.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace banyan::p2p {

namespace {

// Transport tags: every header carries kHeaderTag; a payload carries kPayloadTag plus its
// message id (0 for eager payloads), so a stream that loses its place fails on the tag check.
constexpr std::uint64_t kHeaderTag = 0x7032702d68647200ull;   // "p2p-hdr"
constexpr std::uint64_t kPayloadTag = 0x7032702d70000000ull;  // "p2p-p"
constexpr std::uint32_t kMagic = 0x62703270;                  // "bp2p"
// A header announcing more than this is garbage, not a message (the API refuses such counts).
constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 60;

enum class Kind : std::uint8_t { Eager = 1, Ready = 2, Clear = 3, Data = 4 };

}  // namespace

struct PointToPoint::Header {
  std::uint32_t magic = kMagic;
  std::uint8_t kind = 0;
  std::uint8_t reserved[3] = {};
  std::int32_t tag = 0;
  std::uint32_t reserved2 = 0;
  std::uint64_t bytes = 0;
  std::uint64_t id = 0;
};

struct PointToPoint::Op {
  bool isSend = false;
  int peer = kAnySource;  // send: destination; recv: the source asked for (may be any)
  int tag = 0;
  const void* sendData = nullptr;
  void* recvData = nullptr;
  std::size_t bytes = 0;
  Clock::time_point deadline;
  std::string what;
  SendDone sendDone;
  RecvDone recvDone;
  // Where it stands. InFlight: the transport holds the caller's buffer (a timeout then has to
  // end the channel to get it back).
  enum class State { Posted, WaitingClear, WaitingData, WaitingPayload, InFlight } state = State::Posted;
  std::uint64_t id = 0;            // send: its rendezvous id; recv: the sender's id of the bound message
  int source = -1;                 // recv: the rank its message comes from, once bound
  std::vector<std::byte> discard;  // recv: where a payload of the wrong length goes
  Status mismatch;                 // recv: the length error to report once the payload is drained
  bool ended = false;
};

// A message that arrived (or was announced) before a receive asked for it.
struct PointToPoint::Unexpected {
  int source = 0;
  int tag = 0;
  std::size_t bytes = 0;
  bool eager = false;              // payload here (or on its way here); otherwise with the sender
  std::uint64_t id = 0;            // Ready: the sender's message id
  std::vector<std::byte> payload;  // eager
  bool arrived = false;            // eager: payload complete
  Status failed;                   // eager: the payload's receive failed
  std::shared_ptr<Op> waiter;      // eager: a receive bound before the payload arrived
  std::shared_ptr<Op> selfSend;    // a large send to this rank itself, waiting for its receive
};

struct PointToPoint::PeerState {
  Header incoming;  // the posted header receive writes here
  Status lost;      // the stream with this peer failed; nothing more goes there
  std::map<std::uint64_t, std::shared_ptr<Op>> waitingClear;  // sends by id
  std::map<std::uint64_t, std::shared_ptr<Op>> waitingData;   // receives by the sender's id
};

PointToPoint::PointToPoint(transport::Transport& channel, int rank, int size, std::size_t eagerBytes,
                           std::string describe)
    : channel_(channel),
      rank_(rank),
      size_(size),
      eagerBytes_(eagerBytes),
      name_(std::move(describe)),
      alive_(std::make_shared<bool>(true)) {
  static_assert(sizeof(Header) == 32, "the header's layout is the wire format");
  peers_.resize(static_cast<std::size_t>(size));
}

PointToPoint::PeerState& PointToPoint::stateOf(int peer) {
  auto& state = peers_[static_cast<std::size_t>(peer)];
  if (!state) state = std::make_unique<PeerState>();
  return *state;
}

PointToPoint::~PointToPoint() { alive_.reset(); }

namespace {

std::string describeOp(bool isSend, int peer, int tag, std::size_t bytes) {
  if (isSend) return fmt::format("send to rank {} (tag {}, {} B)", peer, tag, bytes);
  if (peer == kAnySource) return fmt::format("recv from any rank (tag {}, {} B)", tag, bytes);
  return fmt::format("recv from rank {} (tag {}, {} B)", peer, tag, bytes);
}

}  // namespace

// ---- the caller's side ------------------------------------------------------------------

void PointToPoint::send(int peer, int tag, const void* data, std::size_t bytes, Clock::time_point deadline,
                        std::string what, SendDone done) {
  auto op = std::make_shared<Op>();
  op->isSend = true;
  op->peer = peer;
  op->tag = tag;
  op->sendData = data;
  op->bytes = bytes;
  op->deadline = deadline;
  op->what = std::move(what);
  op->sendDone = std::move(done);
  active_.push_back(op);
  if (!broken_.isOk()) return finish(op, broken_);
  if (peer == rank_) return sendToSelf(op);
  PeerState& to = stateOf(peer);
  if (!to.lost.isOk()) return finish(op, to.lost);
  listen();  // a Clear may come back, and must be read
  Header header;
  header.tag = tag;
  header.bytes = bytes;
  if (bytes <= eagerBytes_) {
    header.kind = static_cast<std::uint8_t>(Kind::Eager);
    sendHeader(peer, header);
    op->state = Op::State::InFlight;
    if (bytes == 0) return finish(op, Status::ok());
    sendPayload(peer, 0, data, bytes, op);
    return;
  }
  op->id = nextId_++;
  header.kind = static_cast<std::uint8_t>(Kind::Ready);
  header.id = op->id;
  op->state = Op::State::WaitingClear;
  to.waitingClear.emplace(op->id, op);
  sendHeader(peer, header);
}

void PointToPoint::recv(int peer, int tag, void* data, std::size_t bytes, Clock::time_point deadline, std::string what,
                        RecvDone done) {
  auto op = std::make_shared<Op>();
  op->peer = peer;
  op->tag = tag;
  op->recvData = data;
  op->bytes = bytes;
  op->deadline = deadline;
  op->what = std::move(what);
  op->recvDone = std::move(done);
  active_.push_back(op);
  if (!broken_.isOk()) return finish(op, broken_);
  listen();
  // The oldest message that fits, from any peer when asked so. (Messages a lost peer sent
  // whole before it left are still here to take.)
  for (auto it = unexpected_.begin(); it != unexpected_.end(); ++it) {
    Unexpected& message = **it;
    if (message.tag != tag || (peer != kAnySource && message.source != peer)) continue;
    auto held = *it;  // keep it alive past the erase
    unexpected_.erase(it);
    return bind(op, held);
  }
  if (peer != kAnySource && !stateOf(peer).lost.isOk()) {
    return finish(op, stateOf(peer).lost);
  }
  posted_.push_back(op);
}

// A send to this rank itself never touches the channel: it meets its receive here. A small one
// completes at once (copied aside if no receive waits); a large one waits for its receive.
void PointToPoint::sendToSelf(const std::shared_ptr<Op>& op) {
  if (auto recv = takePostedRecv(rank_, op->tag)) {
    recv->source = rank_;
    if (recv->bytes != op->bytes) {
      finish(recv, Status::make(ErrorCode::InvalidUsage,
                                "{}: the matching message from rank {} (tag {}) has {} B, "
                                "expected {} B",
                                recv->what, rank_, op->tag, op->bytes, recv->bytes));
    } else {
      if (op->bytes > 0) std::memcpy(recv->recvData, op->sendData, op->bytes);
      finish(recv, Status::ok());
    }
    return finish(op, Status::ok());
  }
  auto message = std::make_shared<Unexpected>();
  message->source = rank_;
  message->tag = op->tag;
  message->bytes = op->bytes;
  if (op->bytes <= eagerBytes_) {
    message->eager = true;
    message->arrived = true;
    const auto* from = static_cast<const std::byte*>(op->sendData);
    message->payload.assign(from, from + op->bytes);
    unexpected_.push_back(std::move(message));
    return finish(op, Status::ok());
  }
  message->selfSend = op;
  unexpected_.push_back(std::move(message));
}

// `recv` takes `message`, which has just left the unexpected list.
void PointToPoint::bind(const std::shared_ptr<Op>& recv, const std::shared_ptr<Unexpected>& held) {
  Unexpected& message = *held;
  recv->source = message.source;
  const bool lengthOk = message.bytes == recv->bytes;
  const Status mismatch = lengthOk ? Status::ok()
                                   : Status::make(ErrorCode::InvalidUsage,
                                                  "{}: the matching message from rank {} (tag {}) has {} B, "
                                                  "expected {} B",
                                                  recv->what, message.source, message.tag, message.bytes, recv->bytes);
  if (message.selfSend) {
    if (lengthOk && recv->bytes > 0) std::memcpy(recv->recvData, message.selfSend->sendData, recv->bytes);
    finish(message.selfSend, Status::ok());
    return finish(recv, mismatch);
  }
  if (message.eager) {
    if (message.arrived || !message.failed.isOk()) {
      if (!message.failed.isOk()) return finish(recv, message.failed);
      if (lengthOk && recv->bytes > 0) std::memcpy(recv->recvData, message.payload.data(), recv->bytes);
      return finish(recv, mismatch);
    }
    // Its payload is still on the way into message.payload (not into the caller's buffer).
    recv->mismatch = mismatch;
    recv->state = Op::State::WaitingPayload;
    // The payload's completion holds the message and finds the waiter there.
    message.waiter = recv;
    return;
  }
  // A large message still with its sender: clear it to send.
  PeerState& from = stateOf(message.source);
  if (!from.lost.isOk()) return finish(recv, from.lost);
  recv->id = message.id;
  recv->mismatch = mismatch;
  recv->state = Op::State::WaitingData;
  from.waitingData.emplace(message.id, recv);
  Header clear;
  clear.kind = static_cast<std::uint8_t>(Kind::Clear);
  clear.id = message.id;
  sendHeader(message.source, clear);
}

std::shared_ptr<PointToPoint::Op> PointToPoint::takePostedRecv(int peer, int tag) {
  for (auto it = posted_.begin(); it != posted_.end(); ++it) {
    const Op& op = **it;
    if (op.tag == tag && (op.peer == kAnySource || op.peer == peer)) {
      auto found = *it;
      posted_.erase(it);
      return found;
    }
  }
  return nullptr;
}

// ---- the wire -----------------------------------------------------------------------------

void PointToPoint::listen() {
  if (listening_) return;
  listening_ = true;
  for (int peer = 0; peer < size_; ++peer) {
    if (peer != rank_) postHeaderRecv(peer);
  }
}

void PointToPoint::postHeaderRecv(int peer) {
  PeerState& state = stateOf(peer);
  std::weak_ptr<bool> alive = alive_;
  channel_.recv(peer, kHeaderTag, &state.incoming, sizeof(Header), [this, alive, peer](const Status& status) {
    if (alive.expired()) return;
    onHeader(peer, status);
  });
}

void PointToPoint::sendHeader(int peer, const Header& header) {
  auto copy = std::make_shared<Header>(header);  // the transport reads it until completion
  std::weak_ptr<bool> alive = alive_;
  channel_.send(peer, kHeaderTag, copy.get(), sizeof(Header), [this, alive, peer, copy](const Status& status) {
    if (alive.expired() || status.isOk()) return;
    losePeer(peer, status);
  });
}

void PointToPoint::sendPayload(int peer, std::uint64_t id, const void* data, std::size_t bytes,
                               std::shared_ptr<Op> op) {
  std::weak_ptr<bool> alive = alive_;
  channel_.send(peer, kPayloadTag + id, data, bytes, [this, alive, op](const Status& status) {
    if (alive.expired()) return;
    finish(op, status);
  });
}

void PointToPoint::onHeader(int peer, const Status& status) {
  if (!broken_.isOk()) return;
  if (!status.isOk()) return losePeer(peer, status);
  const Header header = stateOf(peer).incoming;
  const auto kind = static_cast<Kind>(header.kind);
  const bool known = kind == Kind::Eager || kind == Kind::Ready || kind == Kind::Clear || kind == Kind::Data;
  if (header.magic != kMagic || !known || header.tag < 0 || header.bytes > kMaxBytes) {
    return losePeer(peer, Status::make(ErrorCode::Remote,
                                       "{}: rank {} sent a point-to-point header that makes no "
                                       "sense (magic {:#x}, kind {}, tag {}, {} B)",
                                       name_, peer, header.magic, header.kind, header.tag, header.bytes));
  }
  // The next header receive goes after any payload receive the handlers post, since the
  // transport matches a peer's receives in posting order and the payload comes first.
  switch (kind) {
    case Kind::Eager:
      onEager(peer, header.tag, header.bytes);
      break;
    case Kind::Ready:
      onReady(peer, header.tag, header.bytes, header.id);
      break;
    case Kind::Clear:
      onClear(peer, header.id);
      break;
    case Kind::Data:
      onData(peer, header.id, header.bytes);
      break;
  }
  if (broken_.isOk() && stateOf(peer).lost.isOk()) postHeaderRecv(peer);
}

void PointToPoint::onEager(int peer, int tag, std::size_t bytes) {
  std::weak_ptr<bool> alive = alive_;
  if (auto recv = takePostedRecv(peer, tag)) {
    recv->source = peer;
    if (bytes == 0 || recv->bytes != bytes) {
      recv->mismatch = recv->bytes == bytes ? Status::ok()
                                            : Status::make(ErrorCode::InvalidUsage,
                                                           "{}: the matching message from rank {} (tag {}) has {} B, "
                                                           "expected {} B",
                                                           recv->what, peer, tag, bytes, recv->bytes);
      if (bytes == 0) return finish(recv, recv->mismatch);
      recv->discard.resize(bytes);
    }
    void* into = recv->discard.empty() ? recv->recvData : recv->discard.data();
    recv->state = recv->discard.empty() ? Op::State::InFlight : Op::State::WaitingPayload;
    channel_.recv(peer, kPayloadTag, into, bytes, [this, alive, recv](const Status& status) {
      if (alive.expired()) return;
      finish(recv, status.isOk() ? recv->mismatch : status);
    });
    return;
  }
  auto message = std::make_shared<Unexpected>();
  message->source = peer;
  message->tag = tag;
  message->bytes = bytes;
  message->eager = true;
  message->arrived = bytes == 0;
  message->payload.resize(bytes);
  unexpected_.push_back(message);
  if (bytes == 0) return;
  pendingEager_.push_back(message);
  channel_.recv(peer, kPayloadTag, message->payload.data(), bytes, [this, alive, message](const Status& status) {
    if (alive.expired()) return;
    pendingEager_.remove(message);
    message->arrived = status.isOk();
    message->failed = status;
    if (auto waiter = std::move(message->waiter)) {
      if (!status.isOk()) return finish(waiter, status);
      if (waiter->mismatch.isOk()) std::memcpy(waiter->recvData, message->payload.data(), waiter->bytes);
      finish(waiter, waiter->mismatch);
    }
  });
}

void PointToPoint::onReady(int peer, int tag, std::size_t bytes, std::uint64_t id) {
  auto message = std::make_shared<Unexpected>();
  message->source = peer;
  message->tag = tag;
  message->bytes = bytes;
  message->id = id;
  if (auto recv = takePostedRecv(peer, tag)) return bind(recv, message);
  unexpected_.push_back(std::move(message));
}

void PointToPoint::onClear(int peer, std::uint64_t id) {
  PeerState& to = stateOf(peer);
  auto it = to.waitingClear.find(id);
  if (it == to.waitingClear.end()) {
    // The send timed out before its receive came; that receive will time out in turn.
    return;
  }
  auto op = it->second;
  to.waitingClear.erase(it);
  Header data;
  data.kind = static_cast<std::uint8_t>(Kind::Data);
  data.tag = op->tag;
  data.bytes = op->bytes;
  data.id = id;
  sendHeader(peer, data);
  op->state = Op::State::InFlight;
  sendPayload(peer, id, op->sendData, op->bytes, op);
}

void PointToPoint::onData(int peer, std::uint64_t id, std::size_t bytes) {
  PeerState& from = stateOf(peer);
  std::weak_ptr<bool> alive = alive_;
  auto it = from.waitingData.find(id);
  if (it == from.waitingData.end()) {
    // Its receive timed out meanwhile: drain the payload so the stream keeps its place.
    auto sink = std::make_shared<std::vector<std::byte>>(bytes);
    channel_.recv(peer, kPayloadTag + id, sink->data(), bytes, [sink](const Status&) {});
    return;
  }
  auto recv = it->second;
  from.waitingData.erase(it);
  if (!recv->mismatch.isOk() || bytes != recv->bytes) {
    if (recv->mismatch.isOk()) {
      recv->mismatch = Status::make(ErrorCode::Remote, "{}: rank {} sent {} B for a message announced with {} B",
                                    recv->what, peer, bytes, recv->bytes);
    }
    recv->discard.resize(bytes);
  }
  void* into = recv->discard.empty() ? recv->recvData : recv->discard.data();
  recv->state = recv->discard.empty() ? Op::State::InFlight : Op::State::WaitingPayload;
  channel_.recv(peer, kPayloadTag + id, into, bytes, [this, alive, recv](const Status& status) {
    if (alive.expired()) return;
    finish(recv, status.isOk() ? recv->mismatch : status);
  });
}

// ---- endings ------------------------------------------------------------------------------

void PointToPoint::finish(const std::shared_ptr<Op>& op, const Status& status) {
  if (op->ended) return;
  op->ended = true;
  active_.remove(op);
  posted_.remove(op);
  if (op->isSend) {
    if (op->sendDone) op->sendDone(status);
  } else if (op->recvDone) {
    op->recvDone(status, status.isOk() ? op->source : -1);
  }
}

void PointToPoint::expire(Clock::time_point now) {
  std::vector<std::shared_ptr<Op>> late;
  for (const auto& op : active_) {
    if (op->deadline <= now) late.push_back(op);
  }
  for (const auto& op : late) {
    if (op->ended) continue;  // ended by an earlier one's channel break
    const char* waiting = op->state == Op::State::WaitingClear  ? "its receive was never posted"
                          : op->state == Op::State::WaitingData ? "the sender never sent the data it announced"
                          : op->state == Op::State::Posted      ? "no matching message arrived"
                                                                : "the transfer did not finish";
    const Status timeout =
        Status::make(ErrorCode::Timeout, "{}: not done by its deadline (BANYAN_TIMEOUT): {}", op->what, waiting);
    if (op->state == Op::State::InFlight) {
      // The transport still holds the caller's buffer; only ending the channel gives it back.
      breakChannel(timeout);
      continue;
    }
    for (auto& peer : peers_) {
      if (!peer) continue;
      std::erase_if(peer->waitingClear, [&](const auto& entry) { return entry.second == op; });
      std::erase_if(peer->waitingData, [&](const auto& entry) { return entry.second == op; });
    }
    unexpected_.remove_if([&](const auto& message) { return message->selfSend == op; });
    for (auto& message : pendingEager_) {
      if (message->waiter == op) message->waiter.reset();
    }
    finish(op, timeout);
  }
}

void PointToPoint::losePeer(int peer, const Status& why) {
  PeerState& state = stateOf(peer);
  if (!state.lost.isOk() || !broken_.isOk()) return;
  state.lost = why;
  state.waitingClear.clear();
  state.waitingData.clear();
  // Messages from it that arrived whole stay receivable; the rest are gone.
  unexpected_.remove_if([&](const auto& m) { return m->source == peer && !(m->eager && m->arrived); });
  std::vector<std::shared_ptr<Op>> affected;
  for (const auto& op : active_) {
    const int other = op->isSend ? op->peer : (op->source >= 0 ? op->source : op->peer);
    if (other == peer) affected.push_back(op);
  }
  for (const auto& op : affected) finish(op, why);
}

void PointToPoint::breakChannel(const Status& why) {
  if (!broken_.isOk()) return;
  broken_ = why;
  channel_.shutdown(why);
  auto all = active_;
  for (const auto& op : all) finish(op, why);
  unexpected_.clear();
  pendingEager_.clear();
}

void PointToPoint::fail(const Status& why) { breakChannel(why); }

bool PointToPoint::busy() const { return !active_.empty(); }

std::string PointToPoint::describePending() const {
  std::string text;
  for (const auto& op : active_) {
    if (!text.empty()) text += ", ";
    text +=
        describeOp(op->isSend, op->isSend ? op->peer : (op->source >= 0 ? op->source : op->peer), op->tag, op->bytes);
  }
  return text.empty() ? "nothing" : text;
}

}  // namespace banyan::p2p
