// The TCP transport's messages: per-connection send and receive queues, frames written and
// read straight from and into the caller's buffers, and what happens when a peer fails.

#include "transports/tcp/tcp_transport_impl.hpp"

namespace banyan::transport::tcp {

void TcpTransport::Impl::post(int peerRank, std::uint64_t tag, std::uint8_t* data, std::size_t bytes, Completion done,
                              bool isSend) {
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
    // From the event loop, not inside this call: the first contact can fail at once (no address
    // in the store, a store that died with rank 0), and that completes the queued message, which
    // transport.hpp promises never to do inside the posting call (the executor's loop over its
    // posts would go on over an operation that has ended).
    asio::post(io, [this, peerRank] {
      if (shutDown) return;
      if (peerRank == params.rank) {
        failPeer(peerRank, Status::make(ErrorCode::Internal, "rank {} tried to message itself", params.rank));
      } else if (peerRank > params.rank) {
        connectTo(peerRank);
      }
      // A lower-ranked peer connects to us; its connection arrives through the acceptor.
    });
  }
}

void TcpTransport::Impl::enqueue(int peerRank, std::size_t index, Part part, bool isSend) {
  Connection& connection = peers[peerRank].connections[index];
  if (isSend) {
    connection.sends.push_back(std::move(part));
    pumpSends(peerRank, connection);
  } else {
    connection.recvs.push_back(std::move(part));
    pumpRecvs(peerRank, connection);
  }
}

void TcpTransport::Impl::pumpSends(int peerRank, Connection& connection) {
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
void TcpTransport::Impl::pumpRecvs(int peerRank, Connection& connection) {
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

Status TcpTransport::Impl::checkFrame(int peerRank, const Connection& connection) const {
  FrameHeader header;
  Status status = decodeFrameHeader(connection.rxHeader, header);
  const Part& part = connection.recvs.front();
  if (status.isOk() && (header.tag != part.tag || header.length != part.bytes)) {
    status = Status::make(ErrorCode::Remote,
                          "message from {} does not match: it is tag {:#x} with {} bytes, rank {} expected tag "
                          "{:#x} with {} bytes (did the ranks call different operations?)",
                          who(peerRank), header.tag, header.length, params.rank, part.tag, part.bytes)
                 .withMismatch(peerRank, header.tag);
  }
  return status;
}

// A peer that went away shows as EOF or a reset when reading, a broken pipe when writing:
// all say the same thing to the user.
// A peer on this host whose process is seen to have exited is reported so (peerExited): the
// runtime then checks its account once instead of waiting for one.
Status TcpTransport::Impl::ioError(int peerRank, const asio::error_code& ec, const char* doing) {
  // An operation this side cancelled says nothing about the peer.
  const bool exited = ec != asio::error::operation_aborted && peerExited(peerRank);
  const char* how = exited ? "; its process exited" : "";
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == asio::error::connection_aborted) {
    return Status::make(ErrorCode::Remote, "{} closed its connection ({}){}", who(peerRank), ec.message(), how)
        .withLostPeer(peerRank, exited);
  }
  return Status::make(ErrorCode::Remote, "{} {} failed: {}{}", doing, who(peerRank), ec.message(), how)
      .withLostPeer(peerRank, exited);
}

// A closed connection alone cannot tell a dead rank from a live one: a live rank closes its
// connections when it fails (a peer sent a message of another call, say), and writes its
// account in the store around that moment, so the runtime waits for that account up to its
// bound (src/runtime/failure_accounts.cpp), ~500 ms, before it calls the peer dead. On
// one host the kernel knows better (peer_liveness.hpp). A killed process closes its sockets
// inside its exit, a moment before its pidfd turns readable, so the question waits a little
// (kExitWait) for the kernel to say so, once per peer: a peer found alive is asked again
// without waiting (its other connections break too, and each asks). Ranks on other hosts are
// not watched: their closed connections keep the old path.
bool TcpTransport::Impl::peerExited(int peerRank) {
  if (peerRank < 0 || peerRank >= params.size) return false;
  const bool waited = exitWaited[static_cast<std::size_t>(peerRank)];
  exitWaited[static_cast<std::size_t>(peerRank)] = true;
  return liveness->exited(peerRank, waited ? std::chrono::milliseconds(0) : kExitWait);
}

void TcpTransport::watchPeerProcess(int peer, int pid) {
  // Called during setup, before any connection exists to break.
  impl_->liveness->watch(peer, pid);
}

// Fails every queued part of one peer. The executor reacts by shutting the whole transport
// down, since a communicator whose streams lost their place cannot go on.

void TcpTransport::Impl::failPeer(int peerRank, const Status& status) {
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

void TcpTransport::Impl::shutdownAll(const Status& why) {
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

TcpTransport::TcpTransport(const asio::any_io_executor& io, std::shared_ptr<Store> store,
                           const TcpTransportParams& params)
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
