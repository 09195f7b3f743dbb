#pragma once
// What a communicator knows about where its ranks run: which ranks share a host, each host's
// cores and NUMA domains and network interface, and the latency and bandwidth of the two link
// classes (inside a host, between hosts). The tuner costs schedules against it
// (src/tuning/cost_model.hpp). Every rank holds the same Topology: rank 0 assembles it and the
// others read rank 0's text (probe.hpp), so every rank chooses the same algorithm.
//
// The text form (toText/parse) is also the file format of BANYAN_TOPO_FILE, one record a line:
//   # comment
//   banyan-topology 1
//   ranks 4
//   host 0 name=h0 ranks=0,1 cores=2 numa=1 nic=eth0 nic_mbps=1000
//   link intra latency_us=2.5 bandwidth_mbps=3000 source=measured
//   link inter latency_us=40 bandwidth_mbps=117 source=measured
//   memory bandwidth_mbps=5000 source=measured
// (bandwidths in MB/s, 10^6 bytes per second).

#include <string>
#include <vector>

namespace banyan::topology {

struct HostInfo {
  std::string name;        // hostname as the ranks saw it
  std::vector<int> ranks;  // ascending
  int cores = 0;           // physical cores (hwloc); 0: unknown
  int numaNodes = 0;       // NUMA domains (hwloc); 0: unknown
  std::string nic;         // interface of the TCP address ("" when no TCP peer or unknown)
  int nicMbps = 0;         // link speed the interface reports, Mbit/s; 0: unknown
};

// Where a figure came from (one word): "measured" (probed at creation), "memory" (bandwidth:
// the measured memory rate; latency: a default), "nic" (bandwidth: the interface's reported
// speed; latency: a default), "default" (a textbook value: nothing better was known), or
// "file" (a BANYAN_TOPO_FILE record without source=).
struct LinkFigures {
  double latencyUs = 0;
  double bandwidthMBps = 0;  // 10^6 bytes per second
  std::string source = "default";
};

struct Topology {
  int size = 1;
  std::vector<int> hostOfRank;  // host index per rank
  std::vector<HostInfo> hosts;
  LinkFigures intra;   // between ranks of one host (shared memory)
  LinkFigures inter;   // between hosts (network)
  LinkFigures memory;  // one core's copy/reduce streaming rate (latency unused)

  int hostCount() const { return static_cast<int>(hosts.size()); }
  // Ranks on the busiest host.
  int maxRanksPerHost() const;
  // True when every host holds the same number of ranks and each host's ranks are
  // consecutive (rank r is on host r / ranksPerHost), the layout launchers produce by default.
  bool blockLayout() const;
  bool sameHost(int a, int b) const { return hostOfRank.at(a) == hostOfRank.at(b); }
};

// Text form (the file format above).
std::string toText(const Topology& topology);

// Parses the text form; throws Error(InvalidUsage) naming `where` (a file name), the line and
// what is wrong. Checks consistency: every rank on exactly one host, figures positive.
Topology parse(const std::string& text, const std::string& where);

void save(const Topology& topology, const std::string& path);
Topology load(const std::string& path);

// A topology of `hosts` hosts with `ranksPerHost` consecutive ranks each and the given link
// figures: for tests, banyan-topo's what-if tables and the cost model's unit tests.
Topology uniform(int hosts, int ranksPerHost, LinkFigures intra, LinkFigures inter, LinkFigures memory);

}  // namespace banyan::topology
