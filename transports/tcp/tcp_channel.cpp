// The TCP transport's channels (transport.hpp, openChannel): other communicators of the family
// over the same connections. A handle (TcpTransport itself for channel 0, TcpChannel for the
// others) owns a share of the connections; they close when the last handle goes.

#include "transports/tcp/tcp_transport_impl.hpp"

namespace banyan::transport::tcp {

namespace {

// A channel's ranks against the transport's: both ways, and who to tell when it ends.
struct RankMap {
  std::vector<int> transportRank;              // by channel rank
  std::unordered_map<int, int> channelRankOf;  // by transport rank; empty where they are the same
  bool identity = true;

  explicit RankMap(std::vector<int> ranks) : transportRank(std::move(ranks)) {
    for (std::size_t r = 0; r < transportRank.size(); ++r)
      identity = identity && transportRank[r] == static_cast<int>(r);
    // A communicator's own channel maps every rank to itself: no table (~40 B a rank).
    if (identity) return;
    for (std::size_t r = 0; r < transportRank.size(); ++r) channelRankOf.emplace(transportRank[r], static_cast<int>(r));
  }
  int channelRank(int transport) const {
    if (identity) return transport >= 0 && transport < static_cast<int>(transportRank.size()) ? transport : -1;
    const auto it = channelRankOf.find(transport);
    return it == channelRankOf.end() ? -1 : it->second;
  }
  // A failure names the transport's rank of the peer; the channel's owner counts in its own.
  Status translate(const Status& status) const {
    if (identity || status.isOk()) return status;
    Status out = status;
    int named = -1;
    if (status.lostPeer() >= 0) {
      named = status.lostPeer();
      out = out.withLostPeer(channelRank(named), status.lostPeerExited());
    }
    if (status.mismatchPeer() >= 0) {
      named = status.mismatchPeer();
      out = out.withMismatch(channelRank(named), status.mismatchTag());
    }
    if (named < 0) return out;
    return out.withContext(
        fmt::format("rank {} of this communicator (rank {} of the connections it shares)", channelRank(named), named));
  }
};

class TcpChannel final : public Transport {
 public:
  TcpChannel(std::shared_ptr<TcpTransport::Impl> impl, std::uint64_t id, std::vector<int> ranks)
      : impl_(std::move(impl)), id_(id), map_(std::make_shared<RankMap>(std::move(ranks))) {}
  ~TcpChannel() override { impl_->endChannel(id_, nullptr, map_->transportRank); }

  std::string_view name() const override { return "tcp"; }
  void send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) override {
    impl_->post(id_, at(peer), tag, static_cast<std::uint8_t*>(const_cast<void*>(data)), bytes,
                translated(std::move(done)), true);
  }
  void recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) override {
    impl_->post(id_, at(peer), tag, static_cast<std::uint8_t*>(data), bytes, translated(std::move(done)), false);
  }
  void shutdown(const Status& why) override { impl_->endChannel(id_, &why, map_->transportRank); }
  std::string describePeer(int peer) const override {
    if (peer < 0 || peer >= static_cast<int>(map_->transportRank.size())) return {};
    return impl_->who(at(peer));
  }
  std::unique_ptr<Transport> openChannel(const ChannelSpec& spec, const asio::any_io_executor& executor) override {
    ChannelSpec composed{spec.id, {}};
    for (int r : spec.ranks) composed.ranks.push_back(at(r));
    return TcpTransport::openOn(impl_, composed, executor);
  }

 private:
  int at(int peer) const {
    if (peer < 0 || peer >= static_cast<int>(map_->transportRank.size())) {
      fail(ErrorCode::Internal, "tcp channel: rank {} is outside 0..{}", peer, map_->transportRank.size() - 1);
    }
    return map_->transportRank[static_cast<std::size_t>(peer)];
  }
  Completion translated(Completion done) const {
    if (map_->identity) return done;
    return [map = map_, done = std::move(done)](const Status& status) { done(map->translate(status)); };
  }

  std::shared_ptr<TcpTransport::Impl> impl_;
  std::uint64_t id_;
  std::shared_ptr<const RankMap> map_;
};

}  // namespace

std::unique_ptr<Transport> TcpTransport::openOn(const std::shared_ptr<Impl>& impl, const ChannelSpec& spec,
                                                const asio::any_io_executor& executor) {
  if (spec.id == 0) fail(ErrorCode::Internal, "tcp: channel 0 is the transport's own");
  for (int rank : spec.ranks) {
    if (rank < 0 || rank >= impl->params.size) {
      fail(ErrorCode::Internal, "tcp channel {:#x}: rank {} is outside 0..{}", spec.id, rank, impl->params.size - 1);
    }
  }
  if (impl->closedChannels.contains(spec.id)) {
    fail(ErrorCode::Internal, "tcp: channel {:#x} was open here before (two communicators with one nonce?)", spec.id);
  }
  Channel& channel = impl->channels[spec.id];
  if (channel.executor) {
    fail(ErrorCode::Internal, "tcp: channel {:#x} is open already (two communicators with one nonce?)", spec.id);
  }
  channel.executor = executor;
  return std::make_unique<TcpChannel>(impl, spec.id, spec.ranks);
}

std::unique_ptr<Transport> TcpTransport::openChannel(const ChannelSpec& spec, const asio::any_io_executor& executor) {
  return openOn(impl_, spec, executor);
}

void TcpTransport::Impl::channelClosedByPeer(std::uint64_t channelId, int peerRank, std::size_t index) {
  if (closedChannels.contains(channelId)) return;
  ChannelPeer& peer = channelPeer(channels[channelId], peerRank);
  peer.closedOn[index] = true;
  // What it sent before closing has been read (it came first on this connection); what is
  // still posted here can never come.
  auto& queue = peer.recvs[index];
  std::vector<std::shared_ptr<Message>> messages;
  for (auto& part : queue) messages.push_back(std::move(part.message));
  peers[peerRank].connections[index].wanted -= queue.size();
  queue.clear();
  const Status why =
      Status::make(ErrorCode::Remote, "{} closed its connection (shut its communicator down)", who(peerRank))
          .withLostPeer(peerRank);
  for (auto& message : messages) {
    if (message) message->partDone(why);
  }
}

void TcpTransport::Impl::endChannel(std::uint64_t channelId, const Status* why, const std::vector<int>& members) {
  const auto it = channels.find(channelId);
  if (it == channels.end()) return;
  Channel& channel = it->second;
  std::vector<std::shared_ptr<Message>> messages;
  if (!channel.shutDown && !shutDown) {
    std::vector<int> inFlight;
    for (auto& [rank, peer] : channel.peers) {
      for (std::size_t i = 0; i < peer.recvs.size(); ++i) {
        for (auto& part : peer.recvs[i]) messages.push_back(std::move(part.message));
        peers[rank].connections[i].wanted -= peer.recvs[i].size();
        peer.recvs[i].clear();
      }
    }
    for (int rank = 0; rank < params.size; ++rank) {
      for (auto& connection : peers[rank].connections) {
        std::erase_if(connection.sends, [&](Part& part) {
          if (part.channel != channelId) return false;
          messages.push_back(std::move(part.message));
          return true;
        });
        // A payload on its way from or into a buffer of the channel's owner cannot be called
        // back, and the owner may free the buffer once told: only closing the connection stops it.
        for (Part* part : {&connection.txPart, &connection.rxPart}) {
          if (part->channel == channelId && part->message) {
            messages.push_back(std::move(part->message));
            inFlight.push_back(rank);
          }
        }
      }
    }
    // The members' receives on the channel from this rank fail, as when a connection closes.
    for (int rank : members) {
      if (rank == params.rank || !peers[rank].contacted) continue;
      for (std::size_t i = 0; i < peers[rank].connections.size(); ++i) {
        enqueueSend(rank, i, Part{channelId, 0, nullptr, 0, nullptr, kFrameChannelClosed});
      }
    }
    for (int rank : inFlight) {
      failPeer(rank, Status::make(ErrorCode::Remote,
                                  "the connection with {} was closed: a communicator sharing it shut down with a "
                                  "message on its way",
                                  who(rank))
                         .withLostPeer(rank));
    }
  }
  if (why != nullptr) {
    const Status failure = *why;
    channel.shutDown = true;
    channel.failure = failure;
    channel.peers.clear();
    for (auto& message : messages) {
      if (message) message->partDone(failure);
    }
  } else {
    // Destroyed: its owner is gone, so none of its completions may run.
    channels.erase(it);
    closedChannels.insert(channelId);
  }
}

TcpTransport::Impl::~Impl() {
  shutDown = true;
  closeSockets();
}

TcpTransport::TcpTransport(const asio::any_io_executor& io, std::shared_ptr<Store> store,
                           const TcpTransportParams& params)
    : impl_(std::make_shared<Impl>(io, std::move(store), params)) {
  impl_->listen();
  // The accept loop starts on the progress thread, where every other socket operation runs.
  asio::post(io, [impl = impl_.get()] {
    if (!impl->shutDown) impl->startAccepting();
  });
}

TcpTransport::~TcpTransport() { impl_->endChannel(0, nullptr, impl_->everyone()); }

void TcpTransport::send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) {
  impl_->post(0, peer, tag, static_cast<std::uint8_t*>(const_cast<void*>(data)), bytes, std::move(done), true);
}

void TcpTransport::recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) {
  impl_->post(0, peer, tag, static_cast<std::uint8_t*>(data), bytes, std::move(done), false);
}

void TcpTransport::shutdown(const Status& why) { impl_->endChannel(0, &why, impl_->everyone()); }

std::string TcpTransport::describePeer(int peer) const {
  if (peer < 0 || peer >= static_cast<int>(impl_->peers.size())) return {};
  return impl_->who(peer);
}

const std::string& TcpTransport::listenAddress() const { return impl_->listenText; }

std::string TcpTransport::congestion() const { return impl_->congestion.describe(); }

void TcpTransport::watchPeerProcess(int peer, int pid) {
  // Called during setup, before any connection exists to break.
  impl_->liveness->watch(peer, pid);
}

}  // namespace banyan::transport::tcp
