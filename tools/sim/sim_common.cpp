#include "tools/sim/sim_common.hpp"

#include <fmt/format.h>

#include "tuning/algorithm_registry.hpp"

namespace banyan::sim_tool {

Collective toCollective(bench::Collective collective) {
  switch (collective) {
    case bench::Collective::allreduce:
      return Collective::Allreduce;
    case bench::Collective::allgather:
      return Collective::Allgather;
    case bench::Collective::reduce_scatter:
      return Collective::ReduceScatter;
    case bench::Collective::broadcast:
      return Collective::Broadcast;
    case bench::Collective::reduce:
      return Collective::Reduce;
    case bench::Collective::alltoall:
      return Collective::Alltoall;
    case bench::Collective::gather:
      return Collective::Gather;
    case bench::Collective::scatter:
      return Collective::Scatter;
    case bench::Collective::sendrecv:
      break;
  }
  return Collective::Allreduce;  // sendrecv: refused by parseSimArgs
}

std::vector<tuning::Algorithm> defaultAlgorithms(Collective collective, int ranks) {
  std::vector<tuning::Algorithm> priced, scheduled;
  for (tuning::Algorithm a : tuning::algorithmsOf(collective)) {
    const tuning::Serves* s = tuning::servesOf(a, collective);
    if (!s->generate || !tuning::admits(*s, ranks)) continue;
    scheduled.push_back(a);
    if (s->cost) priced.push_back(a);
  }
  return priced.empty() ? scheduled : priced;
}

topology::Topology topologyOf(const simulate::Cluster& c) {
  return topology::uniform(c.hosts, c.ranksPerHost, {c.intra.latencyUs, c.intra.bandwidthMBps, "banyan-sim"},
                           {c.inter.latencyUs, c.inter.bandwidthMBps, "banyan-sim"}, {0, c.copyMBps, "banyan-sim"});
}

std::string formatUs(double us) {
  if (us >= 100) return fmt::format("{:.1f}", us);
  if (us >= 1) return fmt::format("{:.2f}", us);
  return fmt::format("{:.3f}", us);
}

std::string formatBytes(std::size_t bytes) {
  static const char* const kUnits[] = {"", "K", "M", "G", "T"};
  int unit = 0;
  while (unit < 4 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return fmt::format("{}{}", bytes, kUnits[unit]);
}

}  // namespace banyan::sim_tool
