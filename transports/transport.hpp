#pragma once
// The interface every transport implements (tcp now; shm and ofi later). A transport moves
// byte messages between ranks and knows nothing of collectives.
//
// Threading: a transport lives on the communicator's progress thread, an asio::io_context
// that every transport plugs its file descriptors into. send/recv/shutdown are called on that
// thread only, and completions run there too, never from inside the call that posted them.
//
// Ordering: messages from rank a to rank b arrive in the order a posted them, and b's recvs
// from a are matched in the order b posted them. The executor relies on this: schedules are
// deterministic, so both ends post a pair's messages in the same order, and no tag matching
// or unexpected-message buffer is needed. Each message still carries a tag and its length,
// which the receiver checks, so two ranks that disagree on the sequence of operations get an
// error instead of silently mixed data.

#include "common/status.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace asio {
class any_io_executor;
}

namespace banyan::transport {

// Runs on the progress thread once the operation has finished (buffer reusable / filled) or
// failed. A failed Status names the peer and the cause.
using Completion = std::function<void(const Status&)>;

// Another communicator of the family (a split, a subset, a torch group) sending over this
// transport's connections instead of opening its own (docs/architecture.md, "Groups over their
// parent's connections").
struct ChannelSpec {
  // Tells the channel's messages apart on the wire: the same on every member (the communicator's
  // agreed nonce), never 0 (the transport's own messages travel on channel 0).
  std::uint64_t id = 0;
  // ranks[r]: this transport's rank of the channel's rank r.
  std::vector<int> ranks;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual std::string_view name() const = 0;

  // Queues `bytes` from `data` to `peer`; `data` must stay valid until `done` runs.
  // Connects to `peer` first if this is the first contact.
  virtual void send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) = 0;
  // Receives the next message from `peer` into `data`. The message must carry `tag` and be
  // exactly `bytes` long; otherwise `done` gets a Remote error naming both sides' values.
  virtual void recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) = 0;

  // Fails every queued operation with `why`, closes every connection, and makes later
  // sends/recvs fail at once with `why`. Idempotent.
  virtual void shutdown(const Status& why) = 0;

  // Where `peer` is, for error messages ("rank 2 at 10.0.0.3:41234"); "" if unknown.
  virtual std::string describePeer(int peer) const = 0;

  // Progress that no file descriptor signals (shared memory is written, not sent): the driver
  // calls poll() between rounds of the event loop. Runs the completions that are due and
  // returns how many ran. Transports whose progress all comes through the event loop keep the
  // default.
  virtual std::size_t poll() { return 0; }
  // The driver is about to block in the event loop: returns false if poll() has work right now
  // (do not block); otherwise arranges for peers to wake the event loop when they write, and
  // returns true. awake() is called when the driver runs again.
  virtual bool prepareToSleep() { return true; }
  virtual void awake() {}
  // True when peers answer through memory that poll() reads (shared memory), not through the
  // event loop's descriptors: while an engine waits on such a transport, the driver reads the
  // clock and asks the event loop for events only every few polls (a syscall each, several
  // times a look at memory on a VM).
  virtual bool answersInMemory() const { return false; }

  // A transport for the channel `spec` over this one's connections, or null if this transport
  // cannot share them (the caller then opens its own). The channel keeps the contract above per
  // (peer, channel), in its own ranks:
  // - A message may arrive before the receiver has opened its channel, or before the receive
  //   is posted: it is kept (copied aside) and delivered then; one channel never holds up
  //   another's messages behind it.
  // - Its shutdown(why) ends that channel only: its queued operations fail with `why`, and each
  //   peer's receives on the channel from this rank fail ("closed its connection"), as when a
  //   communicator's own connection closes. A message that does not match its receive fails
  //   that channel only. A connection that breaks fails every channel through it.
  // - Its completions run on the progress thread as the transport's own do, and none runs once
  //   the returned transport is destroyed; what the channel posts to the event loop goes through
  //   `executor` (the channel communicator's, runtime/member_executor.hpp).
  // The connections close when this transport and every channel opened on it are destroyed.
  // A channel's openChannel opens another channel on the same connections.
  virtual std::unique_ptr<Transport> openChannel(const ChannelSpec& /*spec*/,
                                                 const asio::any_io_executor& /*executor*/) {
    return nullptr;
  }
};

}  // namespace banyan::transport
