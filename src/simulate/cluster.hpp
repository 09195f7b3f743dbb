#pragma once
// The modelled cluster banyan-sim runs schedules on (docs/simulation.md).
//
// Terms
//   link     alpha-beta: a message of b bytes holds its ports for b / bandwidth and arrives one
//            latency after its last byte left. Bandwidths are MB/s, 10^6 bytes per second,
//            which is bytes per microsecond; latencies are microseconds.
//   port     one direction of a link end, serving one message at a time, first come first
//            served. Between ranks of one host each rank has its own way out and way in (intra
//            figures); between hosts every rank of a host shares the host's NIC, one way out and
//            one way in (inter figures): a host's ranks contend for it in each direction.
//   core     each rank's one thread runs its Reduce steps (at reduceMBps, bytes of result) and
//            Copy steps (at copyMBps), one at a time, and each message's cpuUs at either end
//            (a link's cpuUs: 0 by default, so messages do not need it).
//   machine  machineCores > 0: every rank of the cluster runs on one machine of that many cores
//            (bench/topo.sh's hosts are network namespaces of one machine): a rank's work also
//            waits for a free core of that pool, first come first served, and a message between
//            ranks of one host is a copy (shared memory) its receiver's thread makes, on a core,
//            when both ends are there; the send finishes when the copy has. 0: a core per rank.
// Ranks are placed in blocks: rank r is on host r / ranksPerHost.

#include <string>

namespace banyan::simulate {

struct Link {
  double latencyUs = 0;
  double bandwidthMBps = 0;
  // Time of a core that each message costs its sender and its receiver beyond the wire (system
  // calls, wake-ups). A ping-pong over the link then takes latencyUs + 2 * cpuUs one way.
  double cpuUs = 0;
};

struct Cluster {
  int hosts = 1;
  int ranksPerHost = 1;
  Link inter;
  Link intra;
  double copyMBps = 0;
  double reduceMBps = 0;
  int machineCores = 0;  // > 0: all ranks share this many cores (see "machine" above)

  int size() const { return hosts * ranksPerHost; }
  int hostOf(int rank) const { return rank / ranksPerHost; }
};

// Why the cluster cannot be simulated ("inter bandwidth must be positive, not 0"), or "".
std::string invalidReason(const Cluster& cluster);

}  // namespace banyan::simulate
