#pragma once
// What one rank can see of its own host without talking to anyone: the hostname, physical
// cores and NUMA domains (hwloc), the network interface that holds a given IP address and the
// speed it reports, and how fast one core streams memory.

#include <string>

namespace banyan::topology {

struct LocalFacts {
  std::string hostName;
  int cores = 0;      // 0: hwloc could not tell
  int numaNodes = 0;  // 0: hwloc could not tell
  std::string nic;    // "" when `address` is on no interface (or is empty)
  int nicMbps = 0;    // /sys/class/net/NIC/speed; 0 when unknown (virtual interfaces often say -1)
};

// `address`: the IPv4 address this rank's TCP transport listens on ("" when it has none).
LocalFacts localFacts(const std::string& address);

// The interface holding IPv4 `address`, or "".
std::string interfaceOf(const std::string& address);

// One core's copy rate in MB/s (10^6 B/s) over a buffer larger than the caches, measured in
// a few milliseconds: the rate at which shared-memory copies and reductions stream.
double measureMemoryBandwidth();

}  // namespace banyan::topology
