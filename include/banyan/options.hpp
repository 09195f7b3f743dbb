#pragma once
// Everything a user can set in code. Each field mirrors one BANYAN_* environment variable
// (docs/configuration.md has the table). Precedence: a field set here, then the environment,
// then the measured default. Unset fields are std::nullopt.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace banyan {

struct Options {
  // BANYAN_TIMEOUT: deadline for every wait (connect, store call, collective). Default 300 s.
  std::optional<std::chrono::milliseconds> timeout;
  // BANYAN_TRANSPORT: "auto" (default: shared memory inside a host; between hosts libfabric
  // where a real fabric is found, else TCP), "tcp", "shm" or "ofi" (every pair over that one).
  std::optional<std::string> transport;
  // BANYAN_OFI_PROVIDER: the libfabric provider ("verbs;ofi_rxm", "efa", "tcp;ofi_rxm", "shm",
  // ...). Default: the fastest real fabric found.
  std::optional<std::string> ofiProvider;
  // BANYAN_OFI_RMA_BYTES: ofi messages of at least this size are RMA writes (0: never). 64 KiB.
  std::optional<std::size_t> ofiRmaBytes;
  // BANYAN_SHM_CMA_BYTES: shared-memory messages of at least this size are copied once from
  // the sender's memory (process_vm_readv) where allowed; 0 never. Default 64 KiB.
  std::optional<std::size_t> crossMemoryBytes;
  // BANYAN_SHM_COLLECTIVES: with every rank on one host, run allreduce/allgather directly in
  // shared memory (true, default) or as messages over the transport (false).
  std::optional<bool> shmCollectives;
  // BANYAN_SHARE_CONNECTIONS: a communicator made from another (split, subset, a torch group)
  // sends over its family's connections (true, default) or opens its own (false).
  std::optional<bool> shareConnections;
  // BANYAN_CHECK: peers compare a fingerprint of each collective call (kind, sequence number,
  // count, type, op, root) and fail calls that disagree, naming both (true, default).
  std::optional<bool> checkCalls;
  // BANYAN_SLICE_BYTES: pipeline slice of ring algorithms; a ring step is cut into slices
  // of this size so sending, receiving and reducing overlap.
  std::optional<std::size_t> sliceBytes;
  // BANYAN_P2P_EAGER_BYTES: point-to-point messages up to this size are sent at once (and kept
  // by the receiver until a receive takes them); larger ones wait for the receive. Default 64 KiB.
  std::optional<std::size_t> p2pEagerBytes;
  // BANYAN_SOCKETS_PER_PEER: TCP connections per peer pair (large messages are striped).
  std::optional<int> socketsPerPeer;
  // BANYAN_SOCKET_BUFFER: SO_SNDBUF/SO_RCVBUF of each TCP connection; 0 = kernel autotuning.
  std::optional<std::size_t> socketBufferBytes;
  // BANYAN_TCP_CONGESTION: congestion control of the TCP data connections: "system" (never
  // changed; the default), "auto" (bbr becomes cubic, others stay) or a name such as "cubic".
  std::optional<std::string> tcpCongestion;
  // BANYAN_SOCKET_ADDR: local address the TCP transport listens on. Default: the address
  // this host uses to reach the store (loopback when the store is local).
  std::optional<std::string> socketAddr;
  // BANYAN_SPIN_US: how long waits poll before sleeping (0: never spin). Default: 50 us when
  // ranks do not outnumber cores, else 200 us polling with sched_yield.
  std::optional<std::chrono::microseconds> spin;
  // BANYAN_ALGO: forced algorithms per collective and size band, e.g.
  // "allreduce:0-64K:recursive-doubling,64K-:ring" (docs/topology.md). Set here, it replaces
  // BANYAN_ALGO as a whole (bands are not merged). Every rank must pass the same text.
  std::optional<std::string> algo;
  // BANYAN_TOPO_FILE: load the topology from this file instead of probing (every rank reads it).
  // An empty string probes even when BANYAN_TOPO_FILE is set.
  std::optional<std::string> topoFile;
  // BANYAN_TUNE_FILE: a measured tuning table (banyan-algo-compare --tune-out; docs/topology.md)
  // the automatic choice follows where it covers a call. An empty string: no table.
  std::optional<std::string> tuneFile;
  // BANYAN_DETERMINISTIC: allreduce, reduce_scatter and reduce give bitwise the same result for
  // the same inputs whatever the algorithm setting, size band, transport or slice size (for a
  // given rank count, dtype and op): every element folds in ascending rank order
  // (docs/numerics.md). Default false. Every rank must set the same value.
  std::optional<bool> deterministic;
  // BANYAN_HEARTBEAT_MS: period of the liveness heartbeats (0: none). Default 1000 ms.
  std::optional<std::chrono::milliseconds> heartbeat;
  // BANYAN_HEARTBEAT_MISSES: silent periods before a neighbour is declared lost. Default 5.
  std::optional<int> heartbeatMisses;
  // BANYAN_DEBUG: log level, one of "none", "warn", "info", "trace". Default warn.
  std::optional<std::string> debug;
};

}  // namespace banyan
