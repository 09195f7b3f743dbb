#pragma once
// The topology probe, run once at communicator creation: which ranks share a host (the
// transports' host layout), each host's cores, NUMA domains and network interface (its first
// rank looks, local_facts.hpp), and the link figures. Rank 0 assembles the Topology and
// publishes its text in the store; every other rank parses that same text, so all ranks cost
// and choose alike. BANYAN_TOPO_FILE replaces the probe with a file (every rank reads it).
//
// Link figures: rank 0 measures one link of each class that the job has (latency and
// bandwidth, runtime/link_probe.hpp) and the memory streaming rate. A class the job lacks (one
// host: no inter-host link) keeps a stand-in: the memory rate inside a host, the interface's
// reported speed between hosts, with default latencies (kIntraLatencyUs, kInterLatencyUs).

#include "topology/topology.hpp"

#include <banyan/store.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace banyan::topology {

// Defaults where nothing was measured: a shared-memory hand-off on a busy 2-core machine, and
// a TCP round trip over a kernel stack on a LAN.
inline constexpr double kIntraLatencyUs = 5;
inline constexpr double kInterLatencyUs = 30;
// Interfaces that report no speed (virtual ones) are taken as 10 Gbit/s.
inline constexpr int kUnknownNicMbps = 10000;
// Share of a link's raw rate that TCP payload gets (headers, acknowledgements).
inline constexpr double kTcpEfficiency = 0.94;

struct ProbeParams {
  int rank = 0;
  int size = 1;
  std::string storePrefix;
  std::vector<int> hostOfRank;  // from the transports' host exchange
  std::string tcpAddress;       // the address this rank's TCP transport uses ("" if none)
  std::string file;             // BANYAN_TOPO_FILE: load instead of probing
  std::string dumpFile;         // BANYAN_TOPO_DUMP_FILE: rank 0 writes what it probed
  std::chrono::milliseconds timeout{300000};
  // Rank 0's measurements (runtime/link_probe.hpp), when it made them; they replace the
  // defaults and interface speeds below.
  std::optional<LinkFigures> measuredIntra;
  std::optional<LinkFigures> measuredInter;
};

Topology discover(Store& store, const ProbeParams& params);

}  // namespace banyan::topology
