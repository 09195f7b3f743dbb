#pragma once
// The TCP transport's insides, shared by its two halves: tcp_connect.cpp (listening,
// accepting, greeting, connecting) and tcp_transport.cpp (message queues, framing on the
// wire, failure). Not a public header.

#include <asio.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/host_port.hpp"
#include "common/log.hpp"
#include "security/handshake.hpp"
#include "transports/tcp/tcp_congestion.hpp"
#include "transports/tcp/tcp_transport.hpp"
#include "transports/tcp/tcp_wire.hpp"

namespace banyan::transport::tcp {

// How long a broken connection's peer is given to be seen exited (peerExited). Paid in full only
// when the peer is alive (it closed on purpose), where the runtime then waits for its account
// anyway.
constexpr std::chrono::milliseconds kExitWait{100};

using asio::ip::tcp;

// One message as its parts see it: the completion runs once, when the last part is done or
// at the first failure.
struct Message {
  std::size_t partsLeft = 0;
  bool finished = false;
  Completion done;

  void partDone(const Status& status) {
    if (finished) return;
    if (!status.isOk() || --partsLeft == 0) {
      finished = true;
      auto callback = std::move(done);
      callback(status);
    }
  }
};

// A contiguous piece of a message that travels on one connection with its own frame header.
struct Part {
  std::uint64_t channel = 0;
  std::uint64_t tag = 0;
  std::uint8_t* data = nullptr;  // const for sends; one type keeps the queues simple
  std::size_t bytes = 0;
  std::shared_ptr<Message> message;  // null: nobody waits for it (a channel-closed notice, an orphan)
  std::uint32_t flags = 0;           // kFrameChannelClosed
};

// A message that came before its receive was posted (or before its channel was opened here),
// kept until the receive comes.
struct Arrived {
  std::uint64_t tag = 0;
  std::vector<std::uint8_t> payload;
};

// One channel's traffic with one peer. Both ends count the channel's messages the same way, so
// they agree on which connection carries which part.
struct ChannelPeer {
  std::uint64_t sendCount = 0;
  std::uint64_t recvCount = 0;
  std::vector<std::deque<Part>> recvs;       // per connection, in posting order
  std::vector<std::deque<Arrived>> arrived;  // per connection, in arrival order
  std::vector<bool> closedOn;                // per connection: the peer's end of the channel shut down (its
                                             // notice comes on every connection, after what it sent there)
};

// A communicator's messages over these connections (transport.hpp, openChannel). Channel 0 is
// the transport's own.
struct Channel {
  bool shutDown = false;  // later posts fail with `failure`
  Status failure;
  // Where its posted completions run; set once a handle on this rank has opened it (until then
  // the channel only keeps early arrivals).
  std::optional<asio::any_io_executor> executor;
  std::unordered_map<int, ChannelPeer> peers;  // by this transport's rank
};

struct Connection {
  std::unique_ptr<tcp::socket> socket;  // null until connected and greeted
  std::deque<Part> sends;               // every channel's, in posting order
  std::size_t wanted = 0;               // receives posted on this connection, every channel
  bool writing = false;
  bool reading = false;
  Part txPart;                         // the part being written (out of `sends`)
  Part rxPart;                         // the receive whose payload is being read (out of its channel's queue)
  std::unique_ptr<Arrived> rxArrived;  // or the early arrival being read aside
  FrameHeaderBytes txHeader{};
  FrameHeader rxFrame;  // the frame being received
  // What one read took off the socket beyond the frame it wanted: the next frames' headers and
  // small payloads, so a small message costs one system call (allocated at the first read).
  std::vector<std::uint8_t> rxStaged;
  std::size_t rxBegin = 0, rxEnd = 0;
};

struct Peer {
  // Made on first use (connectionsOf): a rank has a Peer for every other rank but talks to a
  // few (log2 n for recursive doubling, 2 for a ring), and a Connection with its send queue costs
  // ~900 B (libstdc++'s deque allocates a 512 B block when it is made).
  std::vector<Connection> connections;
  bool contacted = false;  // the first message was posted (a connect started, if ours to make)
  std::string address;     // "ip:port" once known
};

// Completion condition "everything, in as few system calls as the socket allows". Asio's own
// transfer_all() caps every read or write at 64 KiB, which on loopback means a system call
// (and an epoll round) per 64 KiB: a third of the bandwidth at large sizes.
struct TransferAllUncapped {
  std::size_t total;
  std::size_t operator()(const asio::error_code& ec, std::size_t transferred) const {
    return ec ? 0 : total - transferred;
  }
};

inline std::string endpointText(const tcp::endpoint& endpoint) {
  return hostPortText(endpoint.address().to_string(), endpoint.port());
}

struct TcpTransport::Impl {
  asio::any_io_executor io;
  std::shared_ptr<Store> store;
  TcpTransportParams params;
  tcp::acceptor acceptor;
  std::string listenText;
  std::vector<Peer> peers;
  std::shared_ptr<PeerLiveness> liveness;  // peers on this host whose exit the kernel reports
  std::vector<bool> exitWaited;            // per peer: peerExited() has waited for it once
  bool shutDown = false;                   // the last handle is gone: nothing more happens
  // Channel 0 (the transport's own) and every channel opened or heard of; closed: a handle
  // existed and is gone, and what still arrives for it is dropped.
  std::unordered_map<std::uint64_t, Channel> channels;
  std::unordered_set<std::uint64_t> closedChannels;
  std::vector<std::uint8_t> discard;  // where payloads nobody will take are read
  // Connections still in their hello or challenge-response, accepted or our own; owned here so
  // shutdown can close them. The deadline closes the socket, which ends the pending read.
  struct Greeting {
    std::shared_ptr<tcp::socket> socket;
    asio::steady_timer deadline;
    HelloBytes hello{};
    security::ChallengeBytes challenge{};
    security::ProofBytes proof{};
    security::Nonce serverNonce{};
    bool timedOut = false;
  };
  std::vector<std::shared_ptr<Greeting>> greeting;
  CongestionPolicy congestion;    // resolved from params.congestion at construction
  bool congestionWarned = false;  // one WARN line per transport when a connection refuses it

  ~Impl();
  Impl(const asio::any_io_executor& context, std::shared_ptr<Store> s, const TcpTransportParams& p)
      : io(context),
        store(std::move(s)),
        params(p),
        acceptor(context),
        peers(p.size),
        liveness(p.liveness ? p.liveness : std::make_shared<PeerLiveness>(p.size)),
        exitWaited(static_cast<std::size_t>(p.size)),
        congestion(resolveCongestion(p.congestion)) {
    Channel& own = channels[0];
    own.executor = context;
  }

  std::vector<int> everyone() const {
    std::vector<int> ranks(static_cast<std::size_t>(params.size));
    for (int r = 0; r < params.size; ++r) ranks[static_cast<std::size_t>(r)] = r;
    return ranks;
  }
  // "/@<rank>": on the writer's store root, when there are several (bootstrap/store_roots.hpp).
  std::string addressKey(int rank) const { return fmt::format("{}tcp/@{}", params.storePrefix, rank); }
  // A peer's connections, made the first time a message is posted to it, its hello arrives, or
  // a frame from it is taken; until then `connections` is empty.
  std::vector<Connection>& connectionsOf(int peerRank) {
    auto& connections = peers[peerRank].connections;
    if (connections.empty()) connections.resize(static_cast<std::size_t>(params.socketsPerPeer));
    return connections;
  }
  // Whether connection `index` with `peerRank` is up (false for a peer never talked to).
  bool connected(int peerRank, std::uint32_t index) const {
    const auto& connections = peers[peerRank].connections;
    return index < connections.size() && connections[index].socket != nullptr;
  }

  // ---- connection set-up -------------------------------------------------------------

  // ---- message queues ----------------------------------------------------------------

  // ---- failure -----------------------------------------------------------------------

  void listen();
  std::string who(int peer) const;
  void startAccepting();
  // Reads an accepted connection's hello and, if it belongs to this communicator, adopts it.
  // A connection that does not say hello within the timeout is closed: a stranger (or a port
  // scanner) must not hold a socket forever.
  void greet(const std::shared_ptr<tcp::socket>& socket);
  // Looks up `peer`'s address in the store and opens our connections to it. The store call
  // blocks the progress thread, once per peer, bounded by the timeout.
  void connectTo(int peerRank);
  // Starts a greeting: registered for shutdown, its socket closed when the timeout passes.
  std::shared_ptr<Greeting> startGreeting(const std::shared_ptr<tcp::socket>& socket);
  void endGreeting(const std::shared_ptr<Greeting>& entry);
  // The acceptor's half of the challenge-response (tcp_handshake.cpp): sends the challenge,
  // checks the proof, and adopts the connection only if it holds. A failure closes the socket
  // and logs a WARN naming the remote address; it never fails the communicator (a stranger
  // must not be able to end a job).
  void challenge(const std::shared_ptr<Greeting>& entry, const Hello& hello, const std::string& from);
  // The connector's half: checks the acceptor's challenge, answers with the proof, then adopts.
  // Here a failure does fail the peer: the address in the store does not lead to that rank.
  void answerChallenge(const std::shared_ptr<Greeting>& entry, int peerRank, std::uint32_t index);
  void adopt(int peerRank, std::uint32_t index, std::unique_ptr<tcp::socket> socket);
  void post(std::uint64_t channel, int peerRank, std::uint64_t tag, std::uint8_t* data, std::size_t bytes,
            Completion done, bool isSend);
  ChannelPeer& channelPeer(Channel& channel, int peerRank);
  void enqueueSend(int peerRank, std::size_t index, Part part);
  void enqueueRecv(std::uint64_t channelId, int peerRank, std::size_t index, Part part);
  void pumpSends(int peerRank, std::size_t index);
  // Reads the next frame's header, then its payload straight into the receive posted for it
  // on its channel, or aside (Arrived) when none is posted yet. A connection is read only while
  // some receive is posted on it, so what nobody asked for waits under TCP flow control.
  // `inHandler`: called from the event loop (else from a posting call, which must not complete
  // anything: a frame already staged is then taken from the event loop).
  void pumpRecvs(int peerRank, std::size_t index, bool inHandler = true);
  // Reads what the socket has (at least a header) into the staging buffer.
  void stageMore(int peerRank, std::size_t index);
  // Takes the staged frame: true if it was whole (the caller goes on), false if the rest of its
  // payload is being read (the read goes on from its completion).
  bool takeFrame(int peerRank, std::size_t index);
  void skipPayload(int peerRank, std::size_t index, std::uint64_t left);
  // The completion of a read on a connection: a failed read fails the peer, a finished one goes
  // on with `then(bytes)`.
  template <typename Then>
  auto readHandler(int peerRank, std::size_t index, Then then) {
    return [this, peerRank, index, then = std::move(then)](const asio::error_code& ec, std::size_t bytes) {
      if (shutDown) return;
      if (ec) {
        peers[peerRank].connections[index].reading = false;
        failPeer(peerRank, ioError(peerRank, ec, "receiving from"));
        return;
      }
      then(bytes);
    };
  }
  // The frame is in: hands it to its receive, or keeps it aside.
  void finishFrame(int peerRank, std::size_t index);
  // The peer's end of a channel shut down: its receives from the peer fail from now on.
  void channelClosedByPeer(std::uint64_t channelId, int peerRank, std::size_t index);
  // A handle's end: shutdown (why set: its operations fail with it) or destruction (why null:
  // its operations are dropped, none of their completions runs). `members`: the transport's
  // ranks to tell (their receives on the channel from this rank fail).
  void endChannel(std::uint64_t channelId, const Status* why, const std::vector<int>& members);
  // Completes a part from the event loop, through its channel's executor (never inside the
  // call that posted it, and never after its channel's owner is gone).
  void completeLater(std::uint64_t channelId, std::shared_ptr<Message> message, Status status);
  Status mismatch(int peerRank, const FrameHeader& header, const Part& part) const;
  // Copies a message kept aside into its receive, checked as a frame read now would be.
  Status takeArrived(int peerRank, const Arrived& early, const Part& part) const;
  // A peer that went away shows as EOF or a reset when reading, a broken pipe when writing:
  // all say the same thing to the user.
  Status ioError(int peerRank, const asio::error_code& ec, const char* doing);
  // Whether the peer's process on this host is seen to have exited (peer_liveness.hpp).
  bool peerExited(int peerRank);
  // Fails every queued part of one peer, on every channel, and closes its connections: the
  // streams have lost their place.
  void failPeer(int peerRank, const Status& status);
  void closeSockets();
};

}  // namespace banyan::transport::tcp
