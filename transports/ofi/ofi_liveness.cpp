#include "transports/ofi/ofi_liveness.hpp"

#include <fmt/format.h>

#include "transports/ofi/ofi_transport_impl.hpp"

namespace banyan::transport::ofi {

std::string OfiTransport::Impl::describe(int rank) const {
  const Peer& peer = peers[static_cast<std::size_t>(rank)];
  if (peer.pid > 0) return fmt::format("rank {} (ofi {} at {}, pid {})", rank, providerName, peer.where, peer.pid);
  return fmt::format("rank {} (ofi {} at {})", rank, providerName, peer.where);
}

Status OfiTransport::Impl::lostStatus(int rank) const {
  return Status::make(ErrorCode::Remote, "{} {}", describe(rank), peers[static_cast<std::size_t>(rank)].gone)
      .withLostPeer(rank, peers[static_cast<std::size_t>(rank)].exited);
}

bool OfiTransport::Impl::waitsOn(int rank) const {
  for (const Context* context : live) {
    if (peerOfOperation(context) == rank) return true;
  }
  return false;
}

// The peer's process exited (exit watch). Under `mutex`. It is not lost yet: a peer that
// finished its last call and exited normally may have sent what this rank still waits for,
// and over tcp;ofi_rxm those bytes can still sit in a socket the provider has not read (the
// exit and the data travel separately; seen: 5 ranks, the last allgather failed on the rank
// that finished first). settleExited() declares it lost after kExitGrace.
// Over shm the peer wrote into this rank's own region, so one read has all it sent, and
// waiting would be harmful: a survivor still sending to the dead rank can spin for ever on a
// lock the dead rank held (docs/ofi.md, known problems), so there it is lost at once.
void OfiTransport::Impl::peerExited(int rank) {
  Peer& peer = peers[static_cast<std::size_t>(rank)];
  if (shutDown || !peer.gone.empty() || peer.exitedAt) return;
  peer.exitedAt = std::chrono::steady_clock::now();
  if (providerName == "shm") {
    *peer.exitedAt -= kExitGrace;  // no grace
    settleExited(readQueue());     // or the next poll's, if this read found something
  }
}

// Peers whose process exited at least kExitGrace ago, with a read of the queue since that
// found nothing (`read`: completions the caller's read just found), are lost. Under `mutex`.
void OfiTransport::Impl::settleExited(std::size_t read) {
  if (shutDown || read > 0) return;
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t index = 0; index < peers.size() && !shutDown; ++index) {
    Peer& peer = peers[index];
    if (!peer.exitedAt || !peer.gone.empty() || now - *peer.exitedAt < kExitGrace) continue;
    const int rank = static_cast<int>(index);
    peer.gone = "closed its endpoint: the process exited";
    peer.exited = true;
    removeDeadShmRegion(providerName, peer.where);
    // The executor fails the whole collective on one peer's failure, and this transport
    // closes its endpoint on any error (failAll): nothing finer to keep.
    if (waitsOn(rank)) failAll(lostStatus(rank));
  }
}

// The first held transmit, to `rank`, met -FI_EAGAIN again. tcp;ofi_rxm answers every send
// to a peer whose process is gone that way, for ever (its connection closed, reconnecting is
// refused): after kRefusedBound of it, towards a peer that had been reached and whose process
// is not watched, the peer is lost. (The first contact also meets -FI_EAGAIN, hence
// `reached`.) Under `mutex`.
void OfiTransport::Impl::noteRefused(int rank) {
  const auto now = std::chrono::steady_clock::now();
  if (!txRefusedSince) txRefusedSince = now;
  if (rank < 0 || now - *txRefusedSince < kRefusedBound) return;
  Peer& peer = peers[static_cast<std::size_t>(rank)];
  if (!peer.reached || peer.exitWatch || !peer.gone.empty()) return;
  peer.gone = fmt::format("cannot be reached: {} has refused every send to it for {} ms (-FI_EAGAIN)", providerName,
                          std::chrono::duration_cast<std::chrono::milliseconds>(now - *txRefusedSince).count());
  failAll(lostStatus(rank));
}

// One probe at a time to each peer with operations outstanding, every kProbeInterval.
// Under `mutex`.
void OfiTransport::Impl::probePeers() {
  const auto now = std::chrono::steady_clock::now();
  if (shutDown || now < nextProbeRound || live.empty()) return;
  nextProbeRound = now + kProbeInterval / 4;
  std::vector<bool> waited(peers.size(), false);
  for (const Context* context : live) {
    const int rank = peerOfOperation(context);
    if (rank >= 0) waited[static_cast<std::size_t>(rank)] = true;
  }
  for (std::size_t rank = 0; rank < peers.size(); ++rank) {
    Peer& peer = peers[rank];
    // A watched process needs no probe (and over shm a probe can do harm: ofi_liveness.hpp).
    if (!waited[rank] || !peer.reachable || peer.probing || peer.exitWatch) continue;
    // The first round only starts the clock: short operations never see a probe.
    if (peer.probedAt == std::chrono::steady_clock::time_point{}) {
      peer.probedAt = now;
      continue;
    }
    if (now - peer.probedAt < kProbeInterval) continue;
    peer.probedAt = now;
    peer.probing = true;
    ControlMessage probe;
    probe.kind = ControlKind::Probe;
    probe.from = params.rank;
    sendControl(static_cast<int>(rank), probe);
  }
}

// Whether a watched peer's process has ended, asked outside the event loop.
bool OfiTransport::Impl::processEnded(int rank) const {
  return peers[static_cast<std::size_t>(rank)].pid > 0 && liveness->exited(rank);
}

}  // namespace banyan::transport::ofi
