#include "runtime/selector_setup.hpp"

#include "topology/probe.hpp"

namespace banyan::runtime {

std::unique_ptr<tuning::Selector> makeSelector(Store& store, int rank, int size, const std::string& storePrefix,
                                               const HostLayout& layout, const config::Config& config,
                                               const LinkMeasurer& measure) {
  // Parse BANYAN_ALGO first: a typo fails before any probing is spent.
  auto bands = tuning::parseAlgoOverride(config.algo, config.algoSource);
  topology::ProbeParams params;
  params.rank = rank;
  params.size = size;
  params.storePrefix = storePrefix;
  params.hostOfRank = layout.hostOfRank;
  if (layout.hostCount > 1) {
    // The interface whose speed matters is the one the TCP transport listens on.
    params.tcpAddress = config.socketAddr.empty() ? store.localAddress() : config.socketAddr;
  }
  if (config.topoFile.empty() && size > 1) {
    // 1 MiB messages: long enough to reach a link's rate, a few ms at 1 Gbit/s each.
    constexpr std::size_t kBulkBytes = 1 << 20;
    const auto deadline = std::chrono::steady_clock::now() + config.timeout;
    int intraPeer = -1, interPeer = -1;
    for (int r = 1; r < size; ++r) {
      const bool local = layout.hostOfRank[static_cast<std::size_t>(r)] == layout.hostOfRank[0];
      if (local && intraPeer < 0) intraPeer = r;
      if (!local && interPeer < 0) interPeer = r;
    }
    if (intraPeer > 0 && (rank == 0 || rank == intraPeer))
      params.measuredIntra = measure(0, intraPeer, kBulkBytes, deadline);
    if (interPeer > 0 && (rank == 0 || rank == interPeer))
      params.measuredInter = measure(0, interPeer, kBulkBytes, deadline);
  }
  params.file = config.topoFile;
  params.dumpFile = config.topoDumpFile;
  params.timeout = config.timeout;
  return std::make_unique<tuning::Selector>(topology::discover(store, params), std::move(bands), config.algoSource);
}

}  // namespace banyan::runtime
