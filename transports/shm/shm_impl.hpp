#pragma once
// The state behind every handle of one shared-memory transport (shm_transport.hpp): the
// segments, rings, doorbell and exit watches, shared by the transport and the channels opened
// on it, and what each channel has with each peer.
//
// Channels (transport.hpp, ChannelSpec): every slot carries its message's channel. Sends stay
// one FIFO per peer, so a message's slots are consecutive in the ring. Receives queue per
// (peer, channel); while any channel has a receive posted from a peer, that peer's ring is
// drained message by message (shm_receive.cpp): into the receive at the head of the message's
// channel, aside into a heap buffer where that channel has none posted (or is not open here
// yet), or nowhere where the channel has ended here. So one channel's messages never wait
// behind another's in the ring. The transport's own messages are channel 0.

#include "transports/shm/shm_transport.hpp"

#include "transports/shm/doorbell.hpp"
#include "transports/shm/segment.hpp"

#include <asio.hpp>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace banyan::transport::shm {

struct ShmChannel;

struct SendOp {
  const std::byte* data;
  std::size_t bytes;
  std::uint64_t tag;
  Completion done;
  ShmChannel* channel = nullptr;
  bool crossMemory = false;
  bool closing = false;        // a ChannelClosed slot (no data, no completion)
  std::size_t written = 0;     // Inline: bytes already in slots
  bool posted = false;         // every slot of the message is in the ring
  std::uint64_t lastSlot = 0;  // CrossMemory: the slot whose release completes the send
};

struct RecvOp {
  std::byte* data;
  std::size_t bytes;
  std::uint64_t tag;
  Completion done;
};

// A whole message that came before its receive was posted.
struct KeptMessage {
  std::uint64_t tag = 0;
  std::size_t bytes = 0;
  std::unique_ptr<std::byte[]> data;
};

// What one channel has with one peer.
struct ChannelPeer {
  std::deque<RecvOp> recvs;
  std::deque<KeptMessage> kept;  // never both non-empty: a receive takes a kept message at once
  // Once the kept messages are delivered, this peer's operations on the channel fail with it:
  // the peer closed its channel, or sent what a receive did not expect. Later messages from the
  // peer on the channel are discarded.
  Status failure;
};

struct ShmChannel {
  std::uint64_t id = 0;
  bool opened = false;             // a handle exists or existed here (not only messages for it)
  bool destroyed = false;          // its handle is gone: none of its completions may run
  Status closed;                   // shut down here: later posts fail with it, its messages are dropped
  std::vector<int> rankOf;         // by local index: the peer's rank in the channel, -1 if not a member
  std::vector<ChannelPeer> peers;  // by local index
};

// The message being taken out of a peer's ring, from its first slot to its last.
struct Arrival {
  enum class Into { Nothing, Recv, Kept, Discard };
  Into into = Into::Nothing;  // Nothing: between messages
  ShmChannel* channel = nullptr;
  std::byte* data = nullptr;  // where its bytes go (null: Discard)
  std::size_t bytes = 0;      // the whole message
  std::size_t received = 0;
  KeptMessage kept;  // Into::Kept: the message so far

  bool active() const { return into != Into::Nothing; }
  // Takes the rest of the message out of the ring without keeping it.
  void discard() {
    into = Into::Discard;
    data = nullptr;
    kept.data.reset();
  }
};

struct Completed {
  Completed(Completion&& done, Status&& status, ShmChannel* channel)
      : done(std::move(done)), status(std::move(status)), channel(channel) {}
  Completion done;
  Status status;
  ShmChannel* channel;  // whose completion this is (dropped if its handle goes first)
};

struct ShmTransport::Impl {
  struct Peer {
    int rank = -1;
    int local = -1;  // index in params.localRanks
    Segment segment;
    SegmentView view;            // the peer's segment
    RingControl* out = nullptr;  // in my segment: my messages to the peer
    RingControl* in = nullptr;   // in the peer's segment: its messages to me
    std::string doorbell;
    pid_t pid = 0;
    bool crossMemoryToPeer = false;                             // the peer can read my memory
    std::unique_ptr<asio::posix::stream_descriptor> exitWatch;  // pidfd: readable once it exits
    std::string gone;          // why the peer can no longer take part ("" while it can)
    bool exited = false;       // its process has ended (not only its connection)
    std::deque<SendOp> sends;  // every channel's, in posting order
    std::size_t waiting = 0;   // receives posted from this peer, over every channel
    Arrival arrival;
    ShmChannel* lastChannel = nullptr;  // of the previous message (saves a map look-up)
    // How much of this pair's rings have pages (Residency::OnFirstUse): see populateRing.
    bool outSmall = false;   // our ring to the peer: its control, slot headers and first pages
    bool outFull = false;    // ... and every slot whole
    bool inControl = false;  // the peer's ring to us: its control (head and tail)
  };

  Impl(const asio::any_io_executor& io, ShmTransportParams p);
  ~Impl();

  asio::any_io_executor io;
  ShmTransportParams params;
  int myLocal = -1;
  Segment mine;
  SegmentView myView;
  std::unique_ptr<Doorbell> doorbell;
  std::vector<Peer> peers;       // by local index (mine unused)
  std::vector<int> localOfRank;  // global rank -> local index, -1 if not on this host
  std::deque<Completed> due;     // completions poll() runs
  std::unordered_map<std::uint64_t, std::unique_ptr<ShmChannel>> channels;  // never erased
  bool shutDown = false;
  Status failure;

  // shm_transport.cpp: set-up and the peers' liveness.
  void setUp(Store& store);
  // The small steps of every message are defined below, in this header, so that they inline.
  Peer* peerOf(int rank);
  std::string describe(const Peer& peer, const ShmChannel& channel) const;
  void wake(Peer& peer);
  void complete(ShmChannel* channel, Completion&& done, Status status);
  std::size_t runDue();
  bool hasWork();
  bool progress(Peer& peer);
  void checkGone(Peer& peer);  // if the peer has left: failGone
  void failGone(Peer& peer);
  void lookForClosedPeers();
  void watchExit(Peer& peer);
  void failAll(const Status& why, const Peer* lost = nullptr);
  void announceClosed();

  Peer* accept(ShmChannel& channel, int rank, int channelRank, Completion& done);

  // shm_send.cpp
  bool pumpSends(Peer& peer);
  // Whether the ring has its pages (populateRingNow if not yet); false after completing `done`.
  bool populateRing(Peer& peer, bool outgoing, std::size_t inlineBytes, ShmChannel& channel, Completion& done);
  bool populateRingNow(Peer& peer, bool outgoing, std::size_t inlineBytes, ShmChannel& channel, Completion& done);
  void send(ShmChannel& channel, int rank, int channelRank, std::uint64_t tag, const void* data, std::size_t bytes,
            Completion& done);

  // shm_receive.cpp
  bool pumpRecvs(Peer& peer);
  void recv(ShmChannel& channel, int rank, int channelRank, std::uint64_t tag, void* data, std::size_t bytes,
            Completion& done);
  bool takeWhole(Peer& peer, const SlotHeader& slot);
  bool startMessage(Peer& peer, const SlotHeader& slot);
  bool readSlot(Peer& peer, const SlotHeader& slot);
  bool readCrossMemory(Peer& peer, const ShmChannel& channel, std::byte* into, std::size_t bytes,
                       std::uint64_t address);
  void finishMessage(Peer& peer);
  void deliverKept(ShmChannel& channel, Peer& peer, KeptMessage& message);
  void peerClosedChannel(Peer& peer, ShmChannel& channel);

  // shm_channels.cpp
  ShmChannel& channelOf(Peer& peer, std::uint64_t id);  // the previous message's, or channelNamed
  ShmChannel& channelNamed(Peer& peer, std::uint64_t id);
  ShmChannel& openChannel(std::uint64_t id, const std::vector<int>& ranks);
  void shutdownChannel(ShmChannel& channel, const Status& why);
  void destroyChannel(ShmChannel& channel);
  void failChannelPeer(ShmChannel& channel, Peer& peer, const Status& why);
  void breakChannelPeer(ShmChannel& channel, Peer& peer, const Status& why);
  void queueChannelClosed(ShmChannel& channel, Peer& peer);
  Status closedStatus(const Peer& peer, const ShmChannel& channel) const;
  Status mismatchStatus(const Peer& peer, const ShmChannel& channel, std::uint64_t theirTag, std::size_t theirBytes,
                        std::uint64_t myTag, std::size_t myBytes) const;
  int channelRank(const Peer& peer, const ShmChannel& channel) const;
};

inline ShmTransport::Impl::Peer* ShmTransport::Impl::peerOf(int rank) {
  if (rank < 0 || rank >= static_cast<int>(localOfRank.size()) || rank == params.rank) return nullptr;
  const int local = localOfRank[static_cast<std::size_t>(rank)];
  return local < 0 ? nullptr : &peers[static_cast<std::size_t>(local)];
}

inline void ShmTransport::Impl::complete(ShmChannel* channel, Completion&& done, Status status) {
  if (done) due.emplace_back(std::move(done), std::move(status), channel);
}

inline void ShmTransport::Impl::wake(Peer& peer) {
  if (takeSleeper(peer.view.header()->sleeping)) doorbell->ring(peer.doorbell);
}

inline bool ShmTransport::Impl::progress(Peer& peer) {
  const bool sent = !peer.sends.empty() && pumpSends(peer);
  const bool received = (peer.waiting != 0 || peer.arrival.active()) && pumpRecvs(peer);
  // The peer may sleep waiting for what we just did: data in its ring, or slots handed back.
  if (sent || received) wake(peer);
  return sent || received;
}

// With one channel in use, no look-up.
inline ShmChannel& ShmTransport::Impl::channelOf(Peer& peer, std::uint64_t id) {
  if (peer.lastChannel != nullptr && peer.lastChannel->id == id) return *peer.lastChannel;
  return channelNamed(peer, id);
}

inline void ShmTransport::Impl::checkGone(Peer& peer) {
  if (!peer.gone.empty()) failGone(peer);
}

inline bool ShmTransport::Impl::populateRing(Peer& peer, bool outgoing, std::size_t inlineBytes, ShmChannel& channel,
                                             Completion& done) {
  constexpr std::size_t kFirstPayload = 4096 - sizeof(SlotHeader);
  if (outgoing ? peer.outSmall && (peer.outFull || inlineBytes <= kFirstPayload) : peer.inControl) return true;
  return populateRingNow(peer, outgoing, inlineBytes, channel, done);
}

}  // namespace banyan::transport::shm
