// The TCP transport's connections: the listening socket and its address in the store, the
// accept loop and the hello check, lazy connects to higher-ranked peers, and closing it all.

#include "transports/tcp/tcp_transport_impl.hpp"

namespace banyan::transport::tcp {

void TcpTransport::Impl::listen() {
  asio::error_code ec;
  const auto address = asio::ip::make_address(params.listenAddress, ec);
  if (ec) {
    fail(ErrorCode::InvalidUsage, "rank {}: listen address '{}' is not an IP address (BANYAN_SOCKET_ADDR)", params.rank,
         params.listenAddress);
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

std::string TcpTransport::Impl::who(int peer) const {
  const auto& address = peers[peer].address;
  return address.empty() ? fmt::format("rank {}", peer) : fmt::format("rank {} at {}", peer, address);
}

void TcpTransport::Impl::startAccepting() {
  auto socket = std::make_shared<tcp::socket>(io);
  acceptor.async_accept(*socket, [this, socket](const asio::error_code& ec) {
    if (ec == asio::error::operation_aborted || shutDown) return;
    if (!ec) greet(socket);
    startAccepting();
  });
}

std::shared_ptr<TcpTransport::Impl::Greeting> TcpTransport::Impl::startGreeting(
    const std::shared_ptr<tcp::socket>& socket) {
  auto entry = std::make_shared<Greeting>(Greeting{socket, asio::steady_timer(io, params.timeout)});
  greeting.push_back(entry);
  std::weak_ptr<Greeting> weak = entry;
  entry->deadline.async_wait([weak](const asio::error_code& ec) {
    auto alive = weak.lock();
    if (ec || !alive) return;
    alive->timedOut = true;
    asio::error_code ignored;
    alive->socket->close(ignored);
  });
  return entry;
}

void TcpTransport::Impl::endGreeting(const std::shared_ptr<Greeting>& entry) {
  entry->deadline.cancel();
  std::erase(greeting, entry);
}

// Reads an accepted connection's hello and, if it belongs to this communicator, authenticates
// and adopts it. A connection that does not finish within the timeout is closed: a stranger (or
// a port scanner) must not hold a socket forever.
void TcpTransport::Impl::greet(const std::shared_ptr<tcp::socket>& socket) {
  auto entry = startGreeting(socket);
  asio::async_read(*socket, asio::buffer(entry->hello), [this, entry, socket](const asio::error_code& ec, std::size_t) {
    if (ec || shutDown) {
      endGreeting(entry);
      return;
    }
    Hello parsed;
    Status status = decodeHello(entry->hello, parsed);
    asio::error_code endpointError;
    const auto remote = socket->remote_endpoint(endpointError);
    const std::string from = endpointError ? std::string("?") : endpointText(remote);
    const bool authenticating = (parsed.flags & kHelloAuthenticating) != 0;
    if (status.isOk() && parsed.nonce != params.nonce) {
      status = Status::make(ErrorCode::Remote, "hello from another job or communicator");
    } else if (status.isOk() && (parsed.rank >= static_cast<std::uint32_t>(params.rank) ||
                                 parsed.socketIndex >= static_cast<std::uint32_t>(params.socketsPerPeer))) {
      status = Status::make(ErrorCode::Remote, "hello claims rank {} connection {}, which may not connect to rank {}",
                            parsed.rank, parsed.socketIndex, params.rank);
    } else if (status.isOk() && connected(static_cast<int>(parsed.rank), parsed.socketIndex)) {
      status = Status::make(ErrorCode::Remote, "second connection {} from rank {}", parsed.socketIndex, parsed.rank);
    } else if (status.isOk() && params.key && !authenticating) {
      status = Status::make(ErrorCode::Unauthenticated,
                            "hello without authentication (a stranger, or a rank with BANYAN_AUTH=off)");
    } else if (status.isOk() && !params.key && authenticating) {
      status = Status::make(ErrorCode::Unauthenticated,
                            "hello asks for authentication, which this rank has off (BANYAN_AUTH=off here only?)");
    }
    if (!status.isOk()) {
      endGreeting(entry);
      log::warn(log::Where{log::Subsystem::Transport, params.rank}, "tcp: refused connection from {}: {}", from,
                status.message());
      asio::error_code ignored;
      socket->close(ignored);
      return;
    }
    if (params.key) {
      challenge(entry, parsed, from);
      return;
    }
    endGreeting(entry);
    peers[parsed.rank].address = from;
    adopt(static_cast<int>(parsed.rank), parsed.socketIndex, std::make_unique<tcp::socket>(std::move(*socket)));
  });
}

// Looks up `peer`'s address in the store and opens our connections to it. The store call
// blocks the progress thread, once per peer, bounded by the timeout.
void TcpTransport::Impl::connectTo(int peerRank) {
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
  // "a.b.c.d:port" or "[v6]:port" (common/host_port.hpp); a peer of either family is reached
  // through a socket of its family, whatever this rank listens on.
  asio::error_code ec;
  asio::ip::address address;
  std::uint16_t port = 0;
  try {
    HostPort parsed = parseHostPort(text, fmt::format("rank {}'s tcp address", peerRank));
    address = asio::ip::make_address(parsed.host, ec);
    port = parsed.port;
  } catch (const Error&) {
    ec = asio::error::invalid_argument;
  }
  if (ec) {
    failPeer(peerRank, Status::make(ErrorCode::Remote, "rank {} published a malformed address '{}'", peerRank, text));
    return;
  }
  const tcp::endpoint endpoint(address, port);
  for (int index = 0; index < params.socketsPerPeer; ++index) {
    auto socket = std::make_shared<tcp::socket>(io);
    socket->async_connect(endpoint, [this, socket, peerRank, index](const asio::error_code& connectError) {
      if (shutDown) return;
      if (connectError) {
        failPeer(peerRank,
                 Status::make(ErrorCode::Remote, "cannot connect to {}: {}", who(peerRank), connectError.message()));
        return;
      }
      auto entry = startGreeting(socket);
      Hello hello{params.nonce, static_cast<std::uint32_t>(params.rank), static_cast<std::uint32_t>(index)};
      if (params.key) {
        hello.flags = kHelloAuthenticating;
        hello.clientNonce = security::freshNonce();
      }
      entry->hello = encodeHello(hello);
      asio::async_write(*socket, asio::buffer(entry->hello),
                        [this, entry, peerRank, index](const asio::error_code& writeError, std::size_t) {
                          if (shutDown) return;
                          if (writeError) {
                            endGreeting(entry);
                            failPeer(peerRank, Status::make(ErrorCode::Remote, "greeting {} failed: {}", who(peerRank),
                                                            writeError.message()));
                            return;
                          }
                          if (params.key) {
                            answerChallenge(entry, peerRank, static_cast<std::uint32_t>(index));
                            return;
                          }
                          endGreeting(entry);
                          adopt(peerRank, static_cast<std::uint32_t>(index),
                                std::make_unique<tcp::socket>(std::move(*entry->socket)));
                        });
    });
  }
}

void TcpTransport::Impl::adopt(int peerRank, std::uint32_t index, std::unique_ptr<tcp::socket> socket) {
  asio::error_code ignored;
  socket->set_option(tcp::no_delay(true), ignored);
  if (std::string why = applyCongestion(socket->native_handle(), congestion); !why.empty() && !congestionWarned) {
    congestionWarned = true;
    log::warn(log::Where{log::Subsystem::Transport, params.rank},
              "tcp: connection with {}: {} (BANYAN_TCP_CONGESTION={}); it keeps the system's", who(peerRank), why,
              params.congestion);
  }
  if (params.socketBufferBytes > 0) {
    // A fresh connection's autotuned buffers start small and grow over the first megabytes;
    // until then a large message stalls on a full socket (1 MiB allgather, 2 ranks, fresh
    // job: 1.3-3.7 GB/s autotuned, 3.2-3.3 GB/s with 4 MiB).
    const int bytes = static_cast<int>(params.socketBufferBytes);
    socket->set_option(asio::socket_base::send_buffer_size(bytes), ignored);
    socket->set_option(asio::socket_base::receive_buffer_size(bytes), ignored);
  }
  Connection& connection = connectionsOf(peerRank)[index];
  connection.socket = std::move(socket);
  log::trace(log::Where{log::Subsystem::Transport, params.rank}, "tcp: connection {} with {} up", index, who(peerRank));
  pumpSends(peerRank, index);
  pumpRecvs(peerRank, index);
}

void TcpTransport::Impl::closeSockets() {
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
}  // namespace banyan::transport::tcp
