// The TCP transport's messages: per-connection send queues, per-channel receive queues, frames
// written straight from the caller's buffers and read into them (or aside, for a receive not
// posted yet), and what happens when a peer fails.

#include "transports/tcp/tcp_transport_impl.hpp"

namespace banyan::transport::tcp {

ChannelPeer& TcpTransport::Impl::channelPeer(Channel& channel, int peerRank) {
  ChannelPeer& peer = channel.peers[peerRank];
  if (peer.recvs.empty()) {
    connectionsOf(peerRank);  // its queues count on the connections' (`wanted`)
    peer.recvs.resize(static_cast<std::size_t>(params.socketsPerPeer));
    peer.arrived.resize(static_cast<std::size_t>(params.socketsPerPeer));
    peer.closedOn.resize(static_cast<std::size_t>(params.socketsPerPeer));
  }
  return peer;
}

void TcpTransport::Impl::completeLater(std::uint64_t channelId, std::shared_ptr<Message> message, Status status) {
  const auto it = channels.find(channelId);
  if (it == channels.end() || !it->second.executor) return;
  asio::post(*it->second.executor,
             [message = std::move(message), status = std::move(status)] { message->partDone(status); });
}

void TcpTransport::Impl::post(std::uint64_t channelId, int peerRank, std::uint64_t tag, std::uint8_t* data,
                              std::size_t bytes, Completion done, bool isSend) {
  Channel& channel = channels[channelId];
  auto message = std::make_shared<Message>();
  message->done = std::move(done);
  message->partsLeft = 1;
  if (channel.shutDown) {
    completeLater(channelId, std::move(message), channel.failure);
    return;
  }
  ChannelPeer& peer = channelPeer(channel, peerRank);
  const std::uint64_t sequence = isSend ? peer.sendCount++ : peer.recvCount++;
  const auto connectionCount = static_cast<std::size_t>(params.socketsPerPeer);
  const auto enqueue = [&](std::size_t index, Part part) {
    if (isSend) {
      enqueueSend(peerRank, index, std::move(part));
    } else {
      enqueueRecv(channelId, peerRank, index, std::move(part));
    }
  };
  if (bytes >= kStripeBytes && connectionCount > 1) {
    // Cut into equal parts (the last takes the remainder), one per connection.
    message->partsLeft = connectionCount;
    const std::size_t partBytes = bytes / connectionCount;
    for (std::size_t i = 0; i < connectionCount; ++i) {
      const std::size_t offset = i * partBytes;
      const std::size_t length = (i + 1 == connectionCount) ? bytes - offset : partBytes;
      enqueue(i, Part{channelId, tag, data + offset, length, message});
    }
  } else {
    enqueue(sequence % connectionCount, Part{channelId, tag, data, bytes, message});
  }

  Peer& contact = peers[peerRank];
  if (!contact.contacted) {
    contact.contacted = true;
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

void TcpTransport::Impl::enqueueSend(int peerRank, std::size_t index, Part part) {
  connectionsOf(peerRank)[index].sends.push_back(std::move(part));
  pumpSends(peerRank, index);
}

void TcpTransport::Impl::enqueueRecv(std::uint64_t channelId, int peerRank, std::size_t index, Part part) {
  ChannelPeer& peer = channelPeer(channels[channelId], peerRank);
  auto& arrived = peer.arrived[index];
  if (!arrived.empty()) {
    // It came before this receive: check it as a frame read now would be, and copy it in.
    Status status = takeArrived(peerRank, arrived.front(), part);
    arrived.pop_front();
    completeLater(channelId, std::move(part.message), std::move(status));
    return;
  }
  if (peer.closedOn[index]) {
    completeLater(
        channelId, std::move(part.message),
        Status::make(ErrorCode::Remote, "{} closed its connection (shut its communicator down)", who(peerRank))
            .withLostPeer(peerRank));
    return;
  }
  peer.recvs[index].push_back(std::move(part));
  ++connectionsOf(peerRank)[index].wanted;
  pumpRecvs(peerRank, index, false);
}

void TcpTransport::Impl::pumpSends(int peerRank, std::size_t index) {
  Connection& connection = peers[peerRank].connections[index];
  if (connection.writing || connection.sends.empty() || !connection.socket) return;
  connection.writing = true;
  connection.txPart = std::move(connection.sends.front());
  connection.sends.pop_front();
  const Part& part = connection.txPart;
  connection.txHeader = encodeFrameHeader({part.tag, part.bytes, part.channel, part.flags});
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(connection.txHeader),
                                                  asio::buffer(part.data, part.bytes)};
  asio::async_write(*connection.socket, buffers, TransferAllUncapped{kFrameHeaderSize + part.bytes},
                    [this, peerRank, index](const asio::error_code& ec, std::size_t) {
                      if (shutDown) return;
                      Connection& done = peers[peerRank].connections[index];
                      done.writing = false;
                      if (ec) {
                        failPeer(peerRank, ioError(peerRank, ec, "sending to"));
                        return;
                      }
                      auto message = std::move(done.txPart.message);
                      done.txPart = Part{};
                      pumpSends(peerRank, index);
                      if (message) message->partDone(Status::ok());
                    });
}

void TcpTransport::Impl::pumpRecvs(int peerRank, std::size_t index, bool inHandler) {
  Connection& connection = peers[peerRank].connections[index];
  while (!connection.reading && connection.wanted > 0 && connection.socket) {
    if (connection.rxEnd - connection.rxBegin < kFrameHeaderSize) {
      stageMore(peerRank, index);
      return;
    }
    connection.reading = true;
    if (!inHandler) {
      asio::post(io, [this, peerRank, index] {
        if (shutDown) return;
        peers[peerRank].connections[index].reading = false;
        pumpRecvs(peerRank, index);
      });
      return;
    }
    if (!takeFrame(peerRank, index)) return;
  }
}

void TcpTransport::Impl::stageMore(int peerRank, std::size_t index) {
  constexpr std::size_t kStagingBytes = 8 * 1024;
  Connection& connection = peers[peerRank].connections[index];
  auto& staged = connection.rxStaged;
  if (staged.empty()) staged.resize(kStagingBytes);
  // What is left of the last read moves to the front.
  const std::size_t have = connection.rxEnd - connection.rxBegin;
  if (connection.rxBegin != 0) std::memmove(staged.data(), staged.data() + connection.rxBegin, have);
  connection.rxBegin = 0;
  connection.rxEnd = have;
  connection.reading = true;
  asio::async_read(*connection.socket, asio::buffer(staged.data() + have, staged.size() - have),
                   asio::transfer_at_least(kFrameHeaderSize - have),
                   readHandler(peerRank, index, [this, peerRank, index](std::size_t bytes) {
                     Connection& done = peers[peerRank].connections[index];
                     done.reading = false;
                     done.rxEnd += bytes;
                     pumpRecvs(peerRank, index);
                   }));
}

bool TcpTransport::Impl::takeFrame(int peerRank, std::size_t index) {
  Connection& connection = peers[peerRank].connections[index];
  FrameHeader& header = connection.rxFrame;
  FrameHeaderBytes bytes;
  std::memcpy(bytes.data(), connection.rxStaged.data() + connection.rxBegin, kFrameHeaderSize);
  connection.rxBegin += kFrameHeaderSize;
  if (Status status = decodeFrameHeader(bytes, header); !status.isOk()) {
    connection.reading = false;
    failPeer(peerRank, Status::make(ErrorCode::Remote, "from {}: {}", who(peerRank), status.message()));
    return false;
  }
  if ((header.flags & kFrameChannelClosed) != 0) {
    connection.reading = false;
    channelClosedByPeer(header.channel, peerRank, index);
    return true;
  }
  // Where the payload goes: a posted receive, aside (nobody waits for it yet: its receive, or
  // its whole channel, comes later), or nowhere (its channel has ended here).
  std::uint8_t* target = nullptr;
  Channel* channel = nullptr;
  if (!closedChannels.contains(header.channel)) channel = &channels[header.channel];
  if (channel != nullptr && !channel->shutDown) {
    auto& posted = channelPeer(*channel, peerRank).recvs[index];
    if (posted.empty()) {
      try {
        connection.rxArrived = std::make_unique<Arrived>(Arrived{header.tag, std::vector<std::uint8_t>(header.length)});
      } catch (const std::bad_alloc&) {
        connection.reading = false;
        failPeer(peerRank, Status::make(ErrorCode::System, "no memory to keep a {}-byte message from {}", header.length,
                                        who(peerRank)));
        return false;
      }
      target = connection.rxArrived->payload.data();
    } else {
      connection.rxPart = std::move(posted.front());
      posted.pop_front();
      --connection.wanted;
      if (Status status = mismatch(peerRank, header, connection.rxPart); !status.isOk()) {
        // The stream keeps its place (the payload is skipped); only this channel's receive
        // fails, and its communicator ends the channel. The peer hears of it at once, as it
        // did when a mismatch closed the connection: its receives on the channel from this rank
        // fail, and its runtime looks for this rank's account.
        auto message = std::move(connection.rxPart.message);
        connection.rxPart = Part{};
        for (std::size_t i = 0; i < peers[peerRank].connections.size(); ++i) {
          enqueueSend(peerRank, i, Part{header.channel, 0, nullptr, 0, nullptr, kFrameChannelClosed});
        }
        if (message) message->partDone(status);
      } else {
        target = connection.rxPart.data;
      }
    }
  }
  const std::size_t staged = connection.rxEnd - connection.rxBegin;
  const std::size_t now = static_cast<std::size_t>(std::min<std::uint64_t>(header.length, staged));
  if (target != nullptr && now != 0) std::memcpy(target, connection.rxStaged.data() + connection.rxBegin, now);
  connection.rxBegin += now;
  const std::uint64_t left = header.length - now;
  if (left == 0) {
    finishFrame(peerRank, index);
    return true;
  }
  if (target == nullptr) {
    skipPayload(peerRank, index, left);
    return false;
  }
  // The rest straight from the socket into its place.
  asio::async_read(*connection.socket, asio::buffer(target + now, left), TransferAllUncapped{left},
                   readHandler(peerRank, index, [this, peerRank, index](std::size_t) {
                     finishFrame(peerRank, index);
                     pumpRecvs(peerRank, index);
                   }));
  return false;
}

void TcpTransport::Impl::skipPayload(int peerRank, std::size_t index, std::uint64_t left) {
  if (discard.empty()) discard.resize(64 * 1024);
  const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(left, discard.size()));
  Connection& connection = peers[peerRank].connections[index];
  asio::async_read(*connection.socket, asio::buffer(discard.data(), chunk), TransferAllUncapped{chunk},
                   readHandler(peerRank, index, [this, peerRank, index, left, chunk](std::size_t) {
                     if (left > chunk) {
                       skipPayload(peerRank, index, left - chunk);
                       return;
                     }
                     finishFrame(peerRank, index);
                     pumpRecvs(peerRank, index);
                   }));
}

void TcpTransport::Impl::finishFrame(int peerRank, std::size_t index) {
  Connection& connection = peers[peerRank].connections[index];
  connection.reading = false;
  std::shared_ptr<Message> message = std::move(connection.rxPart.message);
  connection.rxPart = Part{};
  Status status;
  if (connection.rxArrived) {
    const std::uint64_t channelId = connection.rxFrame.channel;
    auto early = std::move(connection.rxArrived);
    const auto it = channels.find(channelId);
    if (it != channels.end() && !it->second.shutDown) {
      ChannelPeer& peer = channelPeer(it->second, peerRank);
      if (peer.recvs[index].empty()) {
        peer.arrived[index].push_back(std::move(*early));
      } else {
        // Its receive was posted while it was being read aside.
        Part part = std::move(peer.recvs[index].front());
        peer.recvs[index].pop_front();
        --connection.wanted;
        status = takeArrived(peerRank, *early, part);
        message = std::move(part.message);
      }
    }
  }
  if (message) message->partDone(status);
}

Status TcpTransport::Impl::takeArrived(int peerRank, const Arrived& early, const Part& part) const {
  Status status = mismatch(peerRank, FrameHeader{early.tag, early.payload.size()}, part);
  if (status.isOk() && part.bytes != 0) std::memcpy(part.data, early.payload.data(), part.bytes);
  return status;
}

Status TcpTransport::Impl::mismatch(int peerRank, const FrameHeader& header, const Part& part) const {
  if (header.tag == part.tag && header.length == part.bytes) return Status::ok();
  return Status::make(ErrorCode::Remote,
                      "message from {} does not match: it is tag {:#x} with {} bytes, rank {} expected tag "
                      "{:#x} with {} bytes (did the ranks call different operations?)",
                      who(peerRank), header.tag, header.length, params.rank, part.tag, part.bytes)
      .withMismatch(peerRank, header.tag);
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

void TcpTransport::Impl::failPeer(int peerRank, const Status& status) {
  std::vector<std::shared_ptr<Message>> messages;
  for (auto& [id, channel] : channels) {
    const auto it = channel.peers.find(peerRank);
    if (it == channel.peers.end()) continue;
    for (auto& queue : it->second.recvs) {
      for (auto& part : queue) messages.push_back(std::move(part.message));
      queue.clear();
    }
  }
  for (auto& connection : peers[peerRank].connections) {
    for (auto& part : connection.sends) messages.push_back(std::move(part.message));
    connection.sends.clear();
    messages.push_back(std::move(connection.txPart.message));
    messages.push_back(std::move(connection.rxPart.message));
    connection.txPart = connection.rxPart = Part{};
    connection.rxArrived.reset();
    connection.rxBegin = connection.rxEnd = 0;
    connection.wanted = 0;
    if (connection.socket) {
      asio::error_code ignored;
      connection.socket->close(ignored);
    }
    connection.writing = connection.reading = false;
  }
  for (auto& message : messages) {
    if (message) message->partDone(status);
  }
}

}  // namespace banyan::transport::tcp
