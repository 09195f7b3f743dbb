#pragma once
// The TCP transport's insides, shared by its two halves: tcp_connect.cpp (listening,
// accepting, greeting, connecting) and tcp_transport.cpp (message queues, framing on the
// wire, failure). Not a public header.

#include <asio.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/host_port.hpp"
#include "common/log.hpp"
#include "security/handshake.hpp"
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
  std::uint64_t tag = 0;
  std::uint8_t* data = nullptr;  // const for sends; one type keeps the queues simple
  std::size_t bytes = 0;
  std::shared_ptr<Message> message;
};

struct Connection {
  std::unique_ptr<tcp::socket> socket;  // null until connected and greeted
  std::deque<Part> sends;
  std::deque<Part> recvs;
  bool writing = false;
  bool reading = false;
  FrameHeaderBytes txHeader{};
  FrameHeaderBytes rxHeader{};
  bool rxChecked = false;  // the current read has checked its frame header
  Status rxStatus;         // what that check found
};

struct Peer {
  std::vector<Connection> connections;
  bool contacted = false;  // the first message was posted (a connect started, if ours to make)
  std::uint64_t sendCount = 0;
  std::uint64_t recvCount = 0;
  std::string address;  // "ip:port" once known
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
  Status failure;                          // set by shutdown(); every later post fails with it
  bool shutDown = false;
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

  Impl(const asio::any_io_executor& context, std::shared_ptr<Store> s, const TcpTransportParams& p)
      : io(context),
        store(std::move(s)),
        params(p),
        acceptor(context),
        peers(p.size),
        liveness(p.liveness ? p.liveness : std::make_shared<PeerLiveness>(p.size)),
        exitWaited(static_cast<std::size_t>(p.size)) {
    for (auto& peer : peers) peer.connections.resize(params.socketsPerPeer);
  }

  std::string addressKey(int rank) const { return fmt::format("{}tcp/{}", params.storePrefix, rank); }

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
  void post(int peerRank, std::uint64_t tag, std::uint8_t* data, std::size_t bytes, Completion done, bool isSend);
  void enqueue(int peerRank, std::size_t index, Part part, bool isSend);
  void pumpSends(int peerRank, Connection& connection);
  // Reads the next frame straight into the posted receive: header and payload in one read
  // (one system call for a small message). The completion condition looks at the header as
  // soon as it has arrived and stops the read if the frame is not the one expected, so a
  // shorter or different message is reported, never waited for.
  void pumpRecvs(int peerRank, Connection& connection);
  Status checkFrame(int peerRank, const Connection& connection) const;
  // A peer that went away shows as EOF or a reset when reading, a broken pipe when writing:
  // all say the same thing to the user.
  Status ioError(int peerRank, const asio::error_code& ec, const char* doing);
  // Whether the peer's process on this host is seen to have exited (peer_liveness.hpp).
  bool peerExited(int peerRank);
  // Fails every queued part of one peer. The executor reacts by shutting the whole transport
  // down, since a communicator whose streams lost their place cannot go on.
  void failPeer(int peerRank, const Status& status);
  void shutdownAll(const Status& why);
  void closeSockets();
};

}  // namespace banyan::transport::tcp
