#include "transports/tcp/tcp_transport.hpp"

#include "common/log.hpp"
#include "transports/tcp/framing.hpp"

#include <asio.hpp>

#include <deque>
#include <string>
#include <vector>

namespace banyan::transport::tcp {
namespace {

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

std::string endpointText(const tcp::endpoint& endpoint) {
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

}  // namespace

struct TcpTransport::Impl {
  asio::io_context& io;
  std::shared_ptr<Store> store;
  TcpTransportParams params;
  tcp::acceptor acceptor;
  std::string listenText;
  std::vector<Peer> peers;
  Status failure;  // set by shutdown(); every later post fails with it
  bool shutDown = false;
  // Accepted connections still owing their hello; owned here so shutdown can close them.
  struct Greeting {
    std::shared_ptr<tcp::socket> socket;
    asio::steady_timer deadline;
  };
  std::vector<std::shared_ptr<Greeting>> greeting;

  Impl(asio::io_context& context, std::shared_ptr<Store> s, const TcpTransportParams& p)
      : io(context), store(std::move(s)), params(p), acceptor(context), peers(p.size) {
    for (auto& peer : peers) peer.connections.resize(params.socketsPerPeer);
  }

  void listen() {
    asio::error_code ec;
    const auto address = asio::ip::make_address(params.listenAddress, ec);
    if (ec) {
      fail(ErrorCode::InvalidUsage, "rank {}: listen address '{}' is not an IP address (BANYAN_SOCKET_ADDR)",
           params.rank, params.listenAddress);
    }
    tcp::endpoint endpoint(address, 0);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      fail(ErrorCode::System, "rank {}: cannot listen on {}: {}", params.rank, params.listenAddress, ec.message());
    }
    listenText = endpointText(acceptor.local_endpoint());
    const std::string value = listenText;
    store->set(addressKey(params.rank), Store::Bytes(value.begin(), value.end()), params.timeout);
  }

  std::string addressKey(int rank) const { return fmt::format("{}tcp/{}", params.storePrefix, rank); }

  std::string who(int peer) const {
    const auto& address = peers[peer].address;
    return address.empty() ? fmt::format("rank {}", peer) : fmt::format("rank {} at {}", peer, address);
  }

  // ---- connection set-up -------------------------------------------------------------

  void startAccepting() {
    auto socket = std::make_shared<tcp::socket>(io);
    acceptor.async_accept(*socket, [this, socket](const asio::error_code& ec) {
      if (ec == asio::error::operation_aborted || shutDown) return;
      if (!ec) greet(socket);
      startAccepting();
    });
  }

  // Reads an accepted connection's hello and, if it belongs to this communicator, adopts it.
  // A connection that does not say hello within the timeout is closed: a stranger (or a port
  // scanner) must not hold a socket forever.
  void greet(const std::shared_ptr<tcp::socket>& socket) {
    auto entry = std::make_shared<Greeting>(Greeting{socket, asio::steady_timer(io, params.timeout)});
    greeting.push_back(entry);
    entry->deadline.async_wait([socket](const asio::error_code& ec) {
      asio::error_code ignored;
      if (!ec) socket->close(ignored);
    });
    auto hello = std::make_shared<HelloBytes>();
    asio::async_read(*socket, asio::buffer(*hello), [this, entry, socket, hello](const asio::error_code& ec, std::size_t) {
      entry->deadline.cancel();
      std::erase(greeting, entry);
      if (ec || shutDown) return;
      Hello parsed;
      Status status = decodeHello(*hello, parsed);
      asio::error_code endpointError;
      const auto remote = socket->remote_endpoint(endpointError);
      const std::string from = endpointError ? std::string("?") : endpointText(remote);
      if (status.isOk() && parsed.nonce != params.nonce) {
        status = Status::make(ErrorCode::Remote, "hello from another job or communicator");
      } else if (status.isOk() && (parsed.rank >= static_cast<std::uint32_t>(params.rank) ||
                                   parsed.socketIndex >= static_cast<std::uint32_t>(params.socketsPerPeer))) {
        status = Status::make(ErrorCode::Remote, "hello claims rank {} connection {}, which may not connect to rank {}",
                              parsed.rank, parsed.socketIndex, params.rank);
      } else if (status.isOk() && peers[parsed.rank].connections[parsed.socketIndex].socket) {
        status = Status::make(ErrorCode::Remote, "second connection {} from rank {}", parsed.socketIndex, parsed.rank);
      }
      if (!status.isOk()) {
        log::warn(params.rank, "tcp: refused connection from {}: {}", from, status.message());
        asio::error_code ignored;
        socket->close(ignored);
        return;
      }
      Peer& peer = peers[parsed.rank];
      peer.address = from;
      adopt(static_cast<int>(parsed.rank), parsed.socketIndex, std::make_unique<tcp::socket>(std::move(*socket)));
    });
  }

  // Looks up `peer`'s address in the store and opens our connections to it. The store call
  // blocks the progress thread, once per peer, bounded by the timeout.
  void connectTo(int peerRank) {
    Peer& peer = peers[peerRank];
    std::string text;
    try {
      auto bytes = store->get(addressKey(peerRank), params.timeout);
      text.assign(bytes.begin(), bytes.end());
    } catch (const Error& error) {
      failPeer(peerRank, Status(error.code(), fmt::format("rank {}: cannot find rank {}'s address: {}", params.rank,
                                                          peerRank, error.detail())));
      return;
    }
    peer.address = text;
    const auto colon = text.rfind(':');
    asio::error_code ec;
    const auto address = asio::ip::make_address(text.substr(0, colon), ec);
    if (colon == std::string::npos || ec) {
      failPeer(peerRank, Status::make(ErrorCode::Remote, "rank {} published a malformed address '{}'", peerRank, text));
      return;
    }
    const tcp::endpoint endpoint(address, static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1))));
    for (int index = 0; index < params.socketsPerPeer; ++index) {
      auto socket = std::make_shared<tcp::socket>(io);
      socket->async_connect(endpoint, [this, socket, peerRank, index](const asio::error_code& connectError) {
        if (shutDown) return;
        if (connectError) {
          failPeer(peerRank, Status::make(ErrorCode::Remote, "cannot connect to {}: {}",
                                          who(peerRank), connectError.message()));
          return;
        }
        auto hello = std::make_shared<HelloBytes>(encodeHello(
            {params.nonce, static_cast<std::uint32_t>(params.rank), static_cast<std::uint32_t>(index)}));
        asio::async_write(*socket, asio::buffer(*hello),
                          [this, socket, hello, peerRank, index](const asio::error_code& writeError, std::size_t) {
                            if (shutDown) return;
                            if (writeError) {
                              failPeer(peerRank, Status::make(ErrorCode::Remote, "greeting {} failed: {}",
                                                              who(peerRank), writeError.message()));
                              return;
                            }
                            adopt(peerRank, index, std::make_unique<tcp::socket>(std::move(*socket)));
                          });
      });
    }
  }

  void adopt(int peerRank, std::uint32_t index, std::unique_ptr<tcp::socket> socket) {
    asio::error_code ignored;
    socket->set_option(tcp::no_delay(true), ignored);
    if (params.socketBufferBytes > 0) {
      // A fresh connection's autotuned buffers start small and grow over the first megabytes;
      // until then a large message stalls on a full socket (1 MiB allgather, 2 ranks, fresh
      // job: 1.3-3.7 GB/s autotuned, 3.2-3.3 GB/s with 4 MiB).
      const int bytes = static_cast<int>(params.socketBufferBytes);
      socket->set_option(asio::socket_base::send_buffer_size(bytes), ignored);
      socket->set_option(asio::socket_base::receive_buffer_size(bytes), ignored);
    }
    Connection& connection = peers[peerRank].connections[index];
    connection.socket = std::move(socket);
    log::trace(params.rank, "tcp: connection {} with {} up", index, who(peerRank));
    pumpSends(peerRank, connection);
    pumpRecvs(peerRank, connection);
  }

  // ---- message queues ----------------------------------------------------------------

  void post(int peerRank, std::uint64_t tag, std::uint8_t* data, std::size_t bytes, Completion done, bool isSend) {
    if (shutDown) {
      asio::post(io, [done = std::move(done), status = failure] { done(status); });
      return;
    }
    Peer& peer = peers[peerRank];
    const std::uint64_t sequence = isSend ? peer.sendCount++ : peer.recvCount++;
    auto message = std::make_shared<Message>();
    message->done = std::move(done);

    const auto connectionCount = static_cast<std::size_t>(params.socketsPerPeer);
    if (bytes >= kStripeBytes && connectionCount > 1) {
      // Cut into equal parts (the last takes the remainder), one per connection.
      message->partsLeft = connectionCount;
      const std::size_t partBytes = bytes / connectionCount;
      for (std::size_t i = 0; i < connectionCount; ++i) {
        const std::size_t offset = i * partBytes;
        const std::size_t length = (i + 1 == connectionCount) ? bytes - offset : partBytes;
        enqueue(peerRank, i, Part{tag, data + offset, length, message}, isSend);
      }
    } else {
      message->partsLeft = 1;
      enqueue(peerRank, sequence % connectionCount, Part{tag, data, bytes, message}, isSend);
    }

    if (!peer.contacted) {
      peer.contacted = true;
      if (peerRank == params.rank) {
        failPeer(peerRank, Status::make(ErrorCode::Internal, "rank {} tried to message itself", params.rank));
      } else if (peerRank > params.rank) {
        connectTo(peerRank);
      }
      // A lower-ranked peer connects to us; its connection arrives through the acceptor.
    }
  }

  void enqueue(int peerRank, std::size_t index, Part part, bool isSend) {
    Connection& connection = peers[peerRank].connections[index];
    if (isSend) {
      connection.sends.push_back(std::move(part));
      pumpSends(peerRank, connection);
    } else {
      connection.recvs.push_back(std::move(part));
      pumpRecvs(peerRank, connection);
    }
  }

  void pumpSends(int peerRank, Connection& connection) {
    if (connection.writing || connection.sends.empty() || !connection.socket) return;
    connection.writing = true;
    const Part& part = connection.sends.front();
    connection.txHeader = encodeFrameHeader({part.tag, part.bytes});
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(connection.txHeader),
                                                    asio::buffer(part.data, part.bytes)};
    asio::async_write(*connection.socket, buffers, TransferAllUncapped{kFrameHeaderSize + part.bytes},
                      [this, peerRank, &connection](const asio::error_code& ec, std::size_t) {
                        if (shutDown) return;
                        connection.writing = false;
                        if (ec) {
                          failPeer(peerRank, ioError(peerRank, ec, "sending to"));
                          return;
                        }
                        Part done = std::move(connection.sends.front());
                        connection.sends.pop_front();
                        pumpSends(peerRank, connection);
                        done.message->partDone(Status::ok());
                      });
  }

  // Reads the next frame straight into the posted receive: header and payload in one read
  // (one system call for a small message). The completion condition looks at the header as
  // soon as it has arrived and stops the read if the frame is not the one expected, so a
  // shorter or different message is reported, never waited for.
  void pumpRecvs(int peerRank, Connection& connection) {
    if (connection.reading || connection.recvs.empty() || !connection.socket) return;
    connection.reading = true;
    connection.rxChecked = false;
    connection.rxStatus = Status::ok();
    const Part& part = connection.recvs.front();
    const std::array<asio::mutable_buffer, 2> buffers{asio::buffer(connection.rxHeader),
                                                      asio::buffer(part.data, part.bytes)};
    const std::size_t total = kFrameHeaderSize + part.bytes;
    auto checkHeader = [this, peerRank, &connection, total](const asio::error_code& ec, std::size_t done) -> std::size_t {
      if (ec) return 0;
      if (!connection.rxChecked && done >= kFrameHeaderSize) {
        connection.rxChecked = true;
        connection.rxStatus = checkFrame(peerRank, connection);
        if (!connection.rxStatus.isOk()) return 0;
      }
      return total - done;
    };
    asio::async_read(*connection.socket, buffers, checkHeader,
                     [this, peerRank, &connection](const asio::error_code& ec, std::size_t) {
                       if (shutDown) return;
                       connection.reading = false;
                       if (ec) {
                         failPeer(peerRank, ioError(peerRank, ec, "receiving from"));
                         return;
                       }
                       // Asio skips the completion condition when one read fills every
                       // buffer (the usual case for small messages): check here as well.
                       if (!connection.rxChecked) connection.rxStatus = checkFrame(peerRank, connection);
                       if (!connection.rxStatus.isOk()) {
                         failPeer(peerRank, connection.rxStatus);
                         return;
                       }
                       Part done = std::move(connection.recvs.front());
                       connection.recvs.pop_front();
                       pumpRecvs(peerRank, connection);
                       done.message->partDone(Status::ok());
                     });
  }

  Status checkFrame(int peerRank, const Connection& connection) const {
    FrameHeader header;
    Status status = decodeFrameHeader(connection.rxHeader, header);
    const Part& part = connection.recvs.front();
    if (status.isOk() && (header.tag != part.tag || header.length != part.bytes)) {
      status = Status::make(ErrorCode::Remote,
                            "message from {} does not match: it is tag {:#x} with {} bytes, rank {} expected tag "
                            "{:#x} with {} bytes (did the ranks call different operations?)",
                            who(peerRank), header.tag, header.length, params.rank, part.tag, part.bytes);
    }
    return status;
  }

  // A peer that went away shows as EOF or a reset when reading, a broken pipe when writing:
  // all say the same thing to the user.
  Status ioError(int peerRank, const asio::error_code& ec, const char* doing) const {
    if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
        ec == asio::error::connection_aborted) {
      return Status::make(ErrorCode::Remote, "{} closed its connection ({})", who(peerRank), ec.message());
    }
    return Status::make(ErrorCode::Remote, "{} {} failed: {}", doing, who(peerRank), ec.message());
  }

  // ---- failure -----------------------------------------------------------------------

  // Fails every queued part of one peer. The executor reacts by shutting the whole transport
  // down, since a communicator whose streams lost their place cannot go on.
  void failPeer(int peerRank, const Status& status) {
    std::vector<std::shared_ptr<Message>> messages;
    for (auto& connection : peers[peerRank].connections) {
      for (auto& part : connection.sends) messages.push_back(part.message);
      for (auto& part : connection.recvs) messages.push_back(part.message);
      connection.sends.clear();
      connection.recvs.clear();
      if (connection.socket) {
        asio::error_code ignored;
        connection.socket->close(ignored);
      }
      connection.writing = connection.reading = false;
    }
    for (auto& message : messages) message->partDone(status);
  }

  void shutdownAll(const Status& why) {
    if (shutDown) return;
    // Fail queued work first (callbacks may post more, which now fails at once via `failure`).
    failure = why;
    std::vector<std::shared_ptr<Message>> messages;
    for (auto& peer : peers) {
      for (auto& connection : peer.connections) {
        for (auto& part : connection.sends) messages.push_back(part.message);
        for (auto& part : connection.recvs) messages.push_back(part.message);
        connection.sends.clear();
        connection.recvs.clear();
      }
    }
    shutDown = true;
    closeSockets();
    for (auto& message : messages) message->partDone(why);
  }

  void closeSockets() {
    asio::error_code ignored;
    acceptor.close(ignored);
    for (auto& entry : greeting) {
      entry->deadline.cancel();
      entry->socket->close(ignored);
    }
    greeting.clear();
    for (auto& peer : peers) {
      for (auto& connection : peer.connections) {
        if (connection.socket) connection.socket->close(ignored);
      }
    }
  }
};

TcpTransport::TcpTransport(asio::io_context& io, std::shared_ptr<Store> store, const TcpTransportParams& params)
    : impl_(std::make_unique<Impl>(io, std::move(store), params)) {
  impl_->listen();
  // The accept loop starts on the progress thread, where every other socket operation runs.
  asio::post(io, [impl = impl_.get()] {
    if (!impl->shutDown) impl->startAccepting();
  });
}

TcpTransport::~TcpTransport() {
  impl_->shutDown = true;
  impl_->closeSockets();
}

void TcpTransport::send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) {
  impl_->post(peer, tag, static_cast<std::uint8_t*>(const_cast<void*>(data)), bytes, std::move(done), true);
}

void TcpTransport::recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) {
  impl_->post(peer, tag, static_cast<std::uint8_t*>(data), bytes, std::move(done), false);
}

void TcpTransport::shutdown(const Status& why) { impl_->shutdownAll(why); }

std::string TcpTransport::describePeer(int peer) const {
  if (peer < 0 || peer >= static_cast<int>(impl_->peers.size())) return {};
  return impl_->who(peer);
}

const std::string& TcpTransport::listenAddress() const { return impl_->listenText; }

}  // namespace banyan::transport::tcp
