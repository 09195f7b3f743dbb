#include "topology/probe.hpp"

#include "common/status.hpp"
#include "topology/local_facts.hpp"

#include <fmt/format.h>

#include <sstream>

namespace banyan::topology {

namespace {

std::string encode(const LocalFacts& f) {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n", f.hostName.empty() ? "-" : f.hostName, f.cores, f.numaNodes,
                     f.nic.empty() ? "-" : f.nic, f.nicMbps);
}

HostInfo decode(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  HostInfo host;
  if (!(in >> host.name >> host.cores >> host.numaNodes >> host.nic >> host.nicMbps)) {
    fail(ErrorCode::Remote, "topology probe: store key '{}' holds malformed host facts '{}'", key, text);
  }
  if (host.nic == "-") host.nic.clear();
  return host;
}

std::string asString(const Store::Bytes& bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }

Topology assemble(Store& store, const ProbeParams& params, const LocalFacts& mine) {
  Topology t;
  t.size = params.size;
  t.hostOfRank = params.hostOfRank;
  int hostCount = 0;
  for (int h : t.hostOfRank) hostCount = std::max(hostCount, h + 1);
  t.hosts.resize(static_cast<std::size_t>(hostCount));
  for (int rank = 0; rank < t.size; ++rank) {
    HostInfo& host = t.hosts[static_cast<std::size_t>(t.hostOfRank[static_cast<std::size_t>(rank)])];
    if (host.ranks.empty()) {  // `rank` is the host's first rank: it published the facts
      const std::string key = fmt::format("{}topo/facts/@{}", params.storePrefix, rank);
      host = rank == params.rank ? decode(encode(mine), key) : decode(asString(store.get(key, params.timeout)), key);
    }
    host.ranks.push_back(rank);
  }
  t.memory = {0, measureMemoryBandwidth(), "measured"};
  t.intra = {kIntraLatencyUs, t.memory.bandwidthMBps, "memory"};
  int slowest = 0;
  for (const HostInfo& host : t.hosts) {
    const int mbps = host.nicMbps > 0 ? host.nicMbps : kUnknownNicMbps;
    slowest = slowest == 0 ? mbps : std::min(slowest, mbps);
  }
  t.inter = {kInterLatencyUs, slowest / 8.0 * kTcpEfficiency, "nic"};
  if (params.measuredIntra) t.intra = *params.measuredIntra;
  if (params.measuredInter) t.inter = *params.measuredInter;
  return t;
}

}  // namespace

Topology discover(Store& store, const ProbeParams& params) {
  if (!params.file.empty()) {
    Topology t = load(params.file);
    if (t.size != params.size) {
      fail(ErrorCode::InvalidUsage, "BANYAN_TOPO_FILE {} describes {} ranks, but this communicator has {}", params.file,
           t.size, params.size);
    }
    return t;
  }
  const bool hostLeader = [&] {
    for (int rank = 0; rank < params.rank; ++rank) {
      if (params.hostOfRank[static_cast<std::size_t>(rank)] ==
          params.hostOfRank[static_cast<std::size_t>(params.rank)]) {
        return false;
      }
    }
    return true;
  }();
  // "@<rank>": on the writer's store root; "*": on every root, read from one's own
  // (bootstrap/store_roots.hpp).
  const std::string textKey = params.storePrefix + "*topo-text";
  if (params.rank != 0) {
    if (hostLeader) {
      const std::string facts = encode(localFacts(params.tcpAddress));
      store.set(fmt::format("{}topo/facts/@{}", params.storePrefix, params.rank),
                Store::Bytes(facts.begin(), facts.end()), params.timeout);
    }
    return parse(asString(store.get(textKey, params.timeout)), "from rank 0 (store key " + textKey + ")");
  }
  Topology t = assemble(store, params, localFacts(params.tcpAddress));
  const std::string text = toText(t);
  if (params.size > 1) store.set(textKey, Store::Bytes(text.begin(), text.end()), params.timeout);
  if (!params.dumpFile.empty()) save(t, params.dumpFile);
  // Every rank, rank 0 included, uses the parsed text: the figures' rounding is the same everywhere.
  return parse(text, "probed");
}

}  // namespace banyan::topology
