#pragma once
// Which ranks share a host, as every rank derives it from the host identities published in the
// store (src/runtime/transport_setup.cpp builds it). Routes (shared memory to the ranks of this
// host), the topology probe and the INFO summary read it.

#include <vector>

namespace banyan::topology {

struct HostLayout {
  std::vector<int> hostOfRank;  // host index (in order of first appearance) per rank
  std::vector<int> localRanks;  // ranks on this rank's host, ascending (includes itself)
  int hostCount = 1;
  std::vector<int> pidOfRank;  // process id per rank (0: unknown): peers on this host are watched
};

}  // namespace banyan::topology
