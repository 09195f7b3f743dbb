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
//   core     each rank's one core runs its Reduce steps (at reduceMBps, bytes of result) and
//            Copy steps (at copyMBps), one at a time; messages do not need it (the executor
//            posts sends and receives before it computes).
// Ranks are placed in blocks: rank r is on host r / ranksPerHost.

#include <string>

namespace banyan::simulate {

struct Link {
  double latencyUs = 0;
  double bandwidthMBps = 0;
};

struct Cluster {
  int hosts = 1;
  int ranksPerHost = 1;
  Link inter;
  Link intra;
  double copyMBps = 0;
  double reduceMBps = 0;

  int size() const { return hosts * ranksPerHost; }
  int hostOf(int rank) const { return rank / ranksPerHost; }
};

// Why the cluster cannot be simulated ("inter bandwidth must be positive, not 0"), or "".
std::string invalidReason(const Cluster& cluster);

}  // namespace banyan::simulate
