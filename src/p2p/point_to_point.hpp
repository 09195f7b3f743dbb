#pragma once
// Point-to-point messages with tag matching, on a transport channel of their own.
//
// Why a channel of its own: the collectives' transport matches messages per pair strictly in
// order, which is right for schedules (both ends post a pair's messages in the same order) and
// wrong for send/recv, where a rank may receive tag 7 before tag 5, or from any source. So a
// communicator has a second set of connections for point-to-point, and on it every message is a
// fixed-size header, sometimes followed by a payload:
//
//   Eager(tag, bytes)      payload follows at once; up to eagerBytes (small messages)
//   Ready(tag, bytes, id)  "ready to send": the payload waits for the receiver's Clear(id)
//   Clear(id)              receiver -> sender: a buffer is waiting, send message `id`
//   Data(id, bytes)        payload of message `id` follows at once
//
// Each rank keeps one header receive posted per peer (once it has used point-to-point at
// all), so headers are read as they come and matched against the posted receives, in posting
// order, source and tag equal (or any source); a header nobody has asked for waits in the
// unexpected list, in arrival order. MPI's non-overtaking rule holds: two messages from one
// source with one tag match receives in the order they were sent. An eager payload that
// arrives unexpected is kept in a buffer of its own until a receive takes it; a large one stays
// with its sender until then, so unexpected messages cost at most eagerBytes each.
//
// Every operation has a deadline. One that expires while the transport still holds its buffer
// (a payload in flight) ends the whole channel: the transport cannot give the buffer back any
// other way, and the caller may free it once the Work has failed.

#include "common/engine.hpp"
#include "common/status.hpp"
#include "transports/transport.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

namespace banyan::p2p {

inline constexpr int kAnySource = -1;

using SendDone = std::function<void(const Status&)>;
// `source`: the rank the message came from (for a receive from any source), -1 on failure.
using RecvDone = std::function<void(const Status&, int source)>;

class PointToPoint final : public Engine {
 public:
  using Clock = std::chrono::steady_clock;

  // `channel` carries nothing but this engine's messages. `describe` names the communicator
  // in messages ("communicator 3").
  PointToPoint(transport::Transport& channel, int rank, int size, std::size_t eagerBytes, std::string describe);
  ~PointToPoint();

  // Progress thread only, from here on. `what` describes the call for error messages.
  void send(int peer, int tag, const void* data, std::size_t bytes, Clock::time_point deadline, std::string what,
            SendDone done);
  void recv(int peer, int tag, void* data, std::size_t bytes, Clock::time_point deadline, std::string what,
            RecvDone done);

  // Fails the operations whose deadline has passed (Timeout).
  void expire(Clock::time_point now);
  // True once a header receive is posted: the channel needs polling from then on (before,
  // messages sent to this rank wait in the channel, and collectives-only programs pay nothing).
  bool listening() const { return listening_; }

  // Engine (common/engine.hpp): progress and sleep go to the channel once listening.
  std::size_t poll() override { return listening_ ? channel_.poll() : 0; }
  bool prepareToSleep() override { return !listening_ || channel_.prepareToSleep(); }
  void awake() override {
    if (listening_) channel_.awake();
  }
  // Operations not yet ended.
  bool busy() const override;
  bool answersInMemory() const override { return listening_ && busy() && channel_.answersInMemory(); }
  // Fails every operation with `why` and refuses later ones.
  void fail(const Status& why) override;
  // What is pending: "recv from rank 2 tag 5 (64 B), send to rank 1 tag 3 (waiting for its receive)".
  std::string describePending() const override;

 private:
  struct Header;
  struct Op;
  struct Unexpected;
  struct PeerState;

  void listen();
  void postHeaderRecv(int peer);
  void onHeader(int peer, const Status& status);
  void onEager(int peer, int tag, std::size_t bytes);
  void onReady(int peer, int tag, std::size_t bytes, std::uint64_t id);
  void onClear(int peer, std::uint64_t id);
  void onData(int peer, std::uint64_t id, std::size_t bytes);
  void sendHeader(int peer, const Header& header);
  void sendPayload(int peer, std::uint64_t id, const void* data, std::size_t bytes, std::shared_ptr<Op> op);
  void sendToSelf(const std::shared_ptr<Op>& op);
  // Binds a posted receive to a message that has announced itself (eager or ready).
  void bind(const std::shared_ptr<Op>& recv, const std::shared_ptr<Unexpected>& message);
  std::shared_ptr<Op> takePostedRecv(int peer, int tag);
  void finish(const std::shared_ptr<Op>& op, const Status& status);
  void losePeer(int peer, const Status& why);
  PeerState& stateOf(int peer);
  void breakChannel(const Status& why);

  transport::Transport& channel_;
  const int rank_;
  const int size_;
  const std::size_t eagerBytes_;
  const std::string name_;
  bool listening_ = false;
  Status broken_;  // the whole channel is unusable
  std::uint64_t nextId_ = 1;
  // Made on first use (stateOf): a PeerState is ~200 B, and a rank talks to few of its peers.
  std::vector<std::unique_ptr<PeerState>> peers_;
  std::list<std::shared_ptr<Op>> posted_;                // receives not yet matched, in posting order
  std::list<std::shared_ptr<Unexpected>> unexpected_;    // messages not yet matched, in arrival order
  std::list<std::shared_ptr<Unexpected>> pendingEager_;  // eager payloads still arriving
  std::list<std::shared_ptr<Op>> active_;                // every operation not yet ended
  std::shared_ptr<bool> alive_;                          // completions check it: the engine may be gone
};

}  // namespace banyan::p2p
