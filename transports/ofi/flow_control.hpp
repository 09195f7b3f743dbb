#pragma once
// Credits for providers whose receiver holds early messages in a fixed pool: libfabric 1.17's
// shm.
//
// shm keeps posted receives and unexpected messages (arrived before their receive was posted)
// in one pool of rx_attr->size entries. A message that finds neither its receive nor a free
// entry stays at the head of the receiver's command queue, and every message behind it waits,
// including those whose receives are posted (tools/ofi_shm_repro.cpp shows it with
// libfabric alone). Nothing fails and nothing spins: the receiver simply gets nothing more. With
// 5 ranks and 64-byte slices (a thousand messages per peer per call) the ranks' floods filled
// the pool and every collective stalled until BANYAN_TIMEOUT.
//
// So over such a provider each peer gets a share of the pool, `window` entries for receives and
// `window` for early messages:
// - A sender may have `window` eager messages to one peer that the peer has not yet received;
//   the receiver gives credits back in batches (a Credit control message) as its receives
//   complete. A send beyond that waits in the transport, from a copy, and its caller is told
//   at once that it completed (the collectives rely on eager sends completing on their own).
// - A receiver posts at most `window` receives per peer, the earliest first (per peer, not in
//   one order for all peers: a rank's receives from one peer, posted for messages not yet
//   sent, must not keep back its receives from another peer whose messages have arrived).
// A peer's messages in flight then always fall within the receives posted for it, or belong to
// receives not yet asked for; those early ones are at most `window` per peer, so the pool never
// fills, the head of the queue can always be stored and the receives behind it arrive.
//
// A provider with a bounded receive queue but room of its own for early messages (every other
// one: tcp;ofi_rxm's queue holds 2048 receives, sockets' 256 with unexpected messages buffered
// up to rx_attr->total_buffered_recv bytes, which banyan asks to be large) needs only the
// receiver's half: `receiveShares`. banyan used to hold the receives beyond the queue's size in
// one line for all peers; a rank whose queue was full of receives from one peer, for messages
// that peer could not yet send, never posted the receive another peer's message was waiting
// for (5 ranks, 64-byte slices: every rank stalled at the same call, run after run). With a
// share per peer, the earliest receives of every peer are always posted; early messages wait
// in the provider's buffer, so no credits travel.
//
// Why batches cannot deadlock: a receiver keeps back fewer than `batch` credits per peer, and
// batch <= window, so a sender that has a message held for credit has at least one sent message
// the receiver has not received; the receiver's receives for a peer are posted in sequence
// order, so that earlier message's receive is posted (or will be) before the later one's.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace banyan::transport::ofi {

class Credits {
 public:
  // Both halves (a sender's credits and a receiver's shares), or only the receiver's shares.
  enum class Scope { SendersAndReceivers, ReceiversOnly };

  Credits() = default;
  // `window` messages per peer in flight; 0 switches flow control off.
  Credits(std::size_t ranks, std::uint32_t window, Scope scope = Scope::SendersAndReceivers)
      : window_(window),
        batch_(std::max<std::uint32_t>(1, window / 2)),
        sendersToo_(scope == Scope::SendersAndReceivers),
        available_(ranks, window),
        owed_(ranks, 0),
        posted_(ranks, 0) {}

  // Receive shares only: a queue of `queue` posted receives, `reserve` of them kept for control
  // messages, shared out among `peers` peers.
  static Credits receiveShares(std::size_t ranks, std::size_t queue, std::size_t reserve, std::size_t peers) {
    const std::size_t free = queue > reserve ? queue - reserve : 0;
    return Credits(ranks, static_cast<std::uint32_t>(std::max<std::size_t>(1, free / std::max<std::size_t>(1, peers))),
                   Scope::ReceiversOnly);
  }

  // The window that fits a provider pool of `pool` entries with `reserve` of them kept for
  // control messages, among `peers` peers: each peer may have `window` receives posted and
  // `window` messages early (unexpected), so 2 x peers x window + reserve fit the pool.
  static std::uint32_t windowFor(std::size_t pool, std::size_t reserve, std::size_t peers) {
    const std::size_t free = pool > reserve ? pool - reserve : 0;
    return static_cast<std::uint32_t>(std::max<std::size_t>(1, free / (2 * std::max<std::size_t>(1, peers))));
  }

  bool enabled() const { return window_ != 0; }
  std::uint32_t window() const { return window_; }

  // Sender: takes a credit for one message to `peer`; false if none is left (the message waits).
  bool take(int peer) {
    if (!enabled() || !sendersToo_) return true;
    auto& left = available_[static_cast<std::size_t>(peer)];
    if (left == 0) return false;
    --left;
    return true;
  }
  // Sender: the peer gave `count` credits back.
  void give(int peer, std::uint32_t count) {
    auto& left = available_[static_cast<std::size_t>(peer)];
    left = std::min(window_, left + count);
  }

  // Receiver: a receive from `peer` may be posted now (at most `window` at a time per peer, the
  // earliest first); false: it waits for one of them to complete.
  bool mayPost(int peer) {
    if (!enabled()) return true;
    auto& posted = posted_[static_cast<std::size_t>(peer)];
    if (posted == window_) return false;
    ++posted;
    return true;
  }

  // Receiver: one message from `peer` was received (its receive is no longer posted). Returns
  // how many credits to send back now (0: keep collecting).
  std::uint32_t received(int peer) {
    if (!enabled()) return 0;
    --posted_[static_cast<std::size_t>(peer)];
    if (!sendersToo_) return 0;
    auto& owed = owed_[static_cast<std::size_t>(peer)];
    if (++owed < batch_) return 0;
    const std::uint32_t count = owed;
    owed = 0;
    return count;
  }

 private:
  std::uint32_t window_ = 0;
  std::uint32_t batch_ = 1;
  bool sendersToo_ = true;
  std::vector<std::uint32_t> available_;
  std::vector<std::uint32_t> owed_;
  std::vector<std::uint32_t> posted_;
};

}  // namespace banyan::transport::ofi
