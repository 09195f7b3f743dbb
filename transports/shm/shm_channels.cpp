// The channels of a shared-memory transport (transport.hpp, ChannelSpec; shm_impl.hpp): their
// book-keeping, and how one ends without ending the others.

#include "transports/shm/shm_impl.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace banyan::transport::shm {

// The channel a slot names, made (not yet open) for a message that comes before its channel is
// opened here.
ShmChannel& ShmTransport::Impl::channelNamed(Peer& peer, std::uint64_t id) {
  auto& entry = channels[id];
  if (!entry) {
    entry = std::make_unique<ShmChannel>();
    entry->id = id;
    entry->rankOf.assign(peers.size(), -1);
    entry->peers = std::vector<ChannelPeer>(peers.size());
  }
  peer.lastChannel = entry.get();
  return *entry;
}

// ranks[r]: the transport's rank of channel rank r; empty: the transport's own ranks.
ShmChannel& ShmTransport::Impl::openChannel(std::uint64_t id, const std::vector<int>& ranks) {
  auto& entry = channels[id];
  if (!entry) {
    entry = std::make_unique<ShmChannel>();
    entry->id = id;
    entry->peers = std::vector<ChannelPeer>(peers.size());
  }
  ShmChannel& channel = *entry;
  if (channel.opened) fail(ErrorCode::Internal, "shm: channel {} is already open on rank {}", id, params.rank);
  channel.opened = true;
  channel.rankOf.assign(peers.size(), -1);
  const auto& locals = params.localRanks;
  for (std::size_t i = 0; i < locals.size(); ++i) {
    if (ranks.empty()) {
      channel.rankOf[i] = locals[i];
    } else if (auto at = std::find(ranks.begin(), ranks.end(), locals[i]); at != ranks.end()) {
      channel.rankOf[i] = static_cast<int>(at - ranks.begin());
    }
  }
  return channel;
}

// Ends `channel` here: its operations fail with `why`, later ones at once, and each member peer
// gets a ChannelClosed slot after what the channel already sent it.
void ShmTransport::Impl::shutdownChannel(ShmChannel& channel, const Status& why) {
  if (!channel.closed.isOk()) return;
  if (shutDown) {
    channel.closed = failure;
    return;
  }
  channel.closed = why;
  bool lent = false;  // a buffer a peer may be reading by cross-memory attach
  for (const auto& peer : peers) {
    for (const auto& op : peer.sends) lent = lent || (op.channel == &channel && op.crossMemory && op.posted);
  }
  const bool others = std::any_of(channels.begin(), channels.end(), [&](const auto& entry) {
    const ShmChannel& other = *entry.second;
    return &other != &channel && other.opened && !other.destroyed && other.closed.isOk();
  });
  // The peer would read the buffer after its owner got it back: only the segment's closed flag,
  // which the reader checks after each copy, stops that, and it ends the whole transport. The
  // same flag ends the transport cheaply when no other channel lives on it.
  if (lent || !others) {
    failAll(why);
    return;
  }
  for (auto& peer : peers) {
    if (shutDown) return;  // progress() below found the transport broken: failAll ended everything
    if (peer.rank < 0) continue;
    auto& sends = peer.sends;
    SendOp closing{nullptr, 0, 0, {}, &channel};
    closing.closing = true;
    bool closed = false;
    // A message half in the ring ends there: its ChannelClosed slot comes next.
    if (!sends.empty() && sends.front().channel == &channel && !sends.front().posted && sends.front().written != 0) {
      complete(&channel, std::move(sends.front().done), why);
      sends.front() = std::move(closing);
      closed = true;
    }
    for (auto& op : sends) {
      if (op.channel == &channel && !op.closing) complete(&channel, std::move(op.done), why);
    }
    sends.erase(std::remove_if(sends.begin(), sends.end(),
                               [&](const SendOp& op) { return op.channel == &channel && !op.closing; }),
                sends.end());
    if (!closed && channel.rankOf[static_cast<std::size_t>(peer.local)] >= 0) queueChannelClosed(channel, peer);
    ChannelPeer& from = channel.peers[static_cast<std::size_t>(peer.local)];
    for (auto& op : from.recvs) complete(&channel, std::move(op.done), why);
    peer.waiting -= from.recvs.size();
    from.recvs.clear();
    from.kept.clear();
    if (peer.arrival.channel == &channel && peer.arrival.active()) peer.arrival.discard();
    progress(peer);
  }
}

// The handle is gone, and with it whatever its completions would touch: none of them runs.
void ShmTransport::Impl::destroyChannel(ShmChannel& channel) {
  channel.destroyed = true;
  shutdownChannel(channel, Status::make(ErrorCode::Aborted, "shm: channel {} was closed", channel.id));
  due.erase(std::remove_if(due.begin(), due.end(), [&](const Completed& entry) { return entry.channel == &channel; }),
            due.end());
  for (auto& from : channel.peers) std::deque<KeptMessage>().swap(from.kept);
}

// A ChannelClosed slot to `peer` after what is queued for it.
void ShmTransport::Impl::queueChannelClosed(ShmChannel& channel, Peer& peer) {
  Completion none;
  if (!populateRing(peer, true, 0, channel, none)) return;  // the peer will time out
  SendOp closing{nullptr, 0, 0, {}, &channel};
  closing.closing = true;
  peer.sends.push_back(std::move(closing));
}

// A message that does not fit its receive breaks the pair's channel, as a mismatch closes a TCP
// connection: this side's operations with the peer fail with the mismatch, and the peer hears
// at once (its receives fail as for a closed connection) rather than wait for a message that
// will not come. Its runtime then looks for this rank's account of the mismatch.
void ShmTransport::Impl::breakChannelPeer(ShmChannel& channel, Peer& peer, const Status& why) {
  failChannelPeer(channel, peer, why);
  queueChannelClosed(channel, peer);
}

// `peer`'s operations on `channel` fail with `why`, now and later (a mismatch, or the peer
// closed its channel). A message half sent stays whole in the ring; later messages it sends on
// the channel are discarded.
void ShmTransport::Impl::failChannelPeer(ShmChannel& channel, Peer& peer, const Status& why) {
  ChannelPeer& from = channel.peers[static_cast<std::size_t>(peer.local)];
  for (auto& op : from.recvs) complete(&channel, std::move(op.done), why);
  peer.waiting -= from.recvs.size();
  from.recvs.clear();
  if (peer.arrival.channel == &channel && peer.arrival.into == Arrival::Into::Recv) peer.arrival.discard();
  auto& sends = peer.sends;
  const auto unsent = [&](const SendOp& op) {
    return op.channel == &channel && !op.closing && op.written == 0 && !op.posted;
  };
  for (auto& op : sends) {
    if (unsent(op)) complete(&channel, std::move(op.done), why);
  }
  sends.erase(std::remove_if(sends.begin(), sends.end(), unsent), sends.end());
  if (from.failure.isOk()) from.failure = why;
}

int ShmTransport::Impl::channelRank(const Peer& peer, const ShmChannel& channel) const {
  const int rank = channel.rankOf.empty() ? -1 : channel.rankOf[static_cast<std::size_t>(peer.local)];
  return rank < 0 ? peer.rank : rank;
}

Status ShmTransport::Impl::closedStatus(const Peer& peer, const ShmChannel& channel) const {
  return Status::make(ErrorCode::Remote, "{} closed its connection (shut its communicator down)",
                      describe(peer, channel))
      .withLostPeer(channelRank(peer, channel), false);
}

Status ShmTransport::Impl::mismatchStatus(const Peer& peer, const ShmChannel& channel, std::uint64_t theirTag,
                                          std::size_t theirBytes, std::uint64_t myTag, std::size_t myBytes) const {
  const int theirRank = channelRank(peer, channel);
  const int myRank = channel.rankOf[static_cast<std::size_t>(myLocal)];
  return Status::make(ErrorCode::Remote,
                      "shm: rank {} sent a message of {} bytes for operation {}, but rank {} expected {} bytes "
                      "for operation {} (the ranks disagree on the sequence of collectives)",
                      theirRank, theirBytes, theirTag, myRank, myBytes, myTag)
      .withMismatch(theirRank, theirTag);
}

}  // namespace banyan::transport::shm
