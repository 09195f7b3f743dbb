#pragma once
// How the ofi transport learns that a peer is gone. Reliable-datagram endpoints have no
// connection to watch: a rank that only waits to receive from a dead peer would otherwise
// learn nothing until BANYAN_TIMEOUT. Two signals, each for what it can see:
//
// - A peer on this host (every peer over `shm`; ofi-tcp between ranks of one host): its
//   process id travels with its endpoint address through the store, and a pidfd in the event
//   loop (transports/peer_liveness.hpp) says when it exits. Exact and immediate, and a stopped
//   (SIGSTOP) process does not exit, so a stop still ends in a Timeout.
// - Any peer the transport waits on without watching its process (other hosts): a small Probe
//   control message every kProbeInterval while operations with it are outstanding, one at a
//   time, so that something is sent to it. A provider with connections underneath reports a
//   peer whose process is gone either as an error completion (like any failed operation with
//   one peer, it names the peer as lost) or, as tcp;ofi_rxm 1.17 does (seen: the connection
//   closed, every send then returns -FI_EAGAIN for ever, no error entry, no event), by refusing
//   every send: after kRefusedBound of refusals towards a peer it had reached, the peer is
//   lost. A stopped peer's kernel still accepts the bytes over its open connection: no error
//   and no refusal (seen in stop trials), so a stop still ends in a Timeout. A provider
//   without connections (shm writes into the peer's memory) completes a probe to a dead peer;
//   there the exit watch is what sees it.
//
// Peers whose process is watched are not probed: the watch is exact, and libfabric 1.17's shm
// provider can spin forever inside a send to a peer that was stopped while it held a lock of
// its shared-memory region (docs/ofi.md, known problems), which a probe would only provoke.
//
// A peer that exited is lost only kExitGrace later, and after a read of the completion queue
// that found nothing: what the peer sent before it exited still counts, and a peer that simply
// finished its last call and exited may have sent exactly what this rank still waits for
// (over tcp;ofi_rxm those bytes can still be in a socket the provider has not read).

#include <chrono>

namespace banyan::transport::ofi {

constexpr auto kProbeInterval = std::chrono::milliseconds(500);
// How long a provider may answer -FI_EAGAIN to every send towards a peer it had reached before
// that peer counts as lost.
constexpr auto kRefusedBound = std::chrono::milliseconds(2000);
// How long after a watched peer's exit its operations are still given to complete.
constexpr auto kExitGrace = std::chrono::milliseconds(500);

}  // namespace banyan::transport::ofi
