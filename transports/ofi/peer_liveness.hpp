#pragma once
// How the ofi transport learns that a peer is gone. Reliable-datagram endpoints have no
// connection to watch: a rank that only waits to receive from a dead peer would otherwise
// learn nothing until BANYAN_TIMEOUT. Two signals, each for what it can see:
//
// - A peer on this host (every peer over `shm`; ofi-tcp between ranks of one host): its
//   process id travels with its endpoint address through the store, and a pidfd in the event
//   loop (transports/shm/exit_watch.hpp) says when it exits. Exact and immediate, and a stopped
//   (SIGSTOP) process does not exit, so a stop still ends in a Timeout.
// - Any peer the transport waits on (other hosts above all): a small Probe control message
//   every kProbeInterval while operations with it are outstanding, one at a time. A provider
//   with connections underneath (tcp;ofi_rxm, verbs through rxm) fails the probe's send when
//   the peer's process is gone (its endpoint's socket or queue pair is closed), and that
//   error, like any failed operation with one peer, names the peer as lost. A stopped peer's
//   kernel still accepts the bytes (or the probe waits to connect): no error, so a stop still
//   ends in a Timeout. A provider without connections (shm writes into the peer's memory)
//   completes a probe to a dead peer; there the exit watch is what sees it.
//
// Before failing the operations with a peer that exited, the transport reads its completion
// queue once more: what the peer sent before it died still counts.

#include <chrono>

namespace banyan::transport::ofi {

constexpr auto kProbeInterval = std::chrono::milliseconds(500);

}  // namespace banyan::transport::ofi
