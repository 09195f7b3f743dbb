#include "observe/communicator_summary.hpp"

#include <fmt/format.h>

#include <map>

#include "transports/per_peer_transport.hpp"
#include "tuning/selection.hpp"

namespace banyan::observe {

std::string rankList(const std::vector<int>& ranks) {
  std::string text;
  for (std::size_t i = 0; i < ranks.size();) {
    std::size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    text += fmt::format("{}{}", text.empty() ? "" : ",",
                        i == j ? fmt::format("{}", ranks[i]) : fmt::format("{}-{}", ranks[i], ranks[j]));
    i = j + 1;
  }
  return text;
}

std::string peerTransports(const transport::PerPeerTransport& transport, int rank, int size) {
  std::map<std::string, std::vector<int>> byTransport;  // name -> peers, ascending
  for (int peer = 0; peer < size; ++peer) {
    if (peer != rank) byTransport[std::string(transport.transportOf(peer))].push_back(peer);
  }
  std::string text;
  for (const auto& [name, peers] : byTransport) {
    text +=
        fmt::format("{}{} to rank{} {}", text.empty() ? "" : "; ", name, peers.size() == 1 ? "" : "s", rankList(peers));
  }
  return text.empty() ? "no peers" : text;
}

std::string topologySummary(const topology::HostLayout& layout) {
  std::vector<std::vector<int>> hosts(static_cast<std::size_t>(layout.hostCount));
  for (std::size_t r = 0; r < layout.hostOfRank.size(); ++r) {
    hosts[static_cast<std::size_t>(layout.hostOfRank[r])].push_back(static_cast<int>(r));
  }
  std::string text = fmt::format("{} host{}:", layout.hostCount, layout.hostCount == 1 ? "" : "s");
  for (const auto& ranks : hosts) text += fmt::format(" [{}]", rankList(ranks));
  return text;
}

std::vector<std::string> algorithmTable(const std::function<bool(Collective, std::size_t)>& inShm,
                                        const std::function<tuning::Algorithm(Collective, std::size_t)>& chosen) {
  const auto choice = [&](Collective kind, std::size_t bytes) -> std::string {
    if (inShm && inShm(kind, bytes)) return "shm";
    return std::string(tuning::toString(chosen(kind, bytes)));
  };
  constexpr std::size_t kLargest = std::size_t{1} << 32;  // beyond any threshold of the selection
  std::vector<std::string> lines;
  for (const Collective kind : {Collective::Allreduce, Collective::Allgather, Collective::ReduceScatter,
                                Collective::Broadcast, Collective::Reduce, Collective::Gather, Collective::Scatter,
                                Collective::Alltoall, Collective::Alltoallv, Collective::Barrier}) {
    // Walk sizes in powers of two; where the choice changes between two probes, find the
    // exact first byte count of the new choice by bisection (choices are ranges of sizes).
    std::string line = fmt::format("{}:", apiName(kind));
    std::size_t from = 0;   // the current choice's first size
    std::size_t known = 0;  // a size known to take the current choice
    std::string current = choice(kind, 0);
    for (std::size_t probe = 1; probe <= kLargest;) {
      if (choice(kind, probe) == current) {
        known = probe;
        probe *= 2;
        continue;
      }
      std::size_t low = known, high = probe;  // choice(low) == current != choice(high)
      while (high - low > 1) {
        const std::size_t middle = low + (high - low) / 2;
        (choice(kind, middle) == current ? low : high) = middle;
      }
      line += fmt::format(" {}-{} B {},", from, high - 1, current);
      from = known = high;
      current = choice(kind, high);
      // probe stays: another change may lie between high and probe
    }
    line += from == 0 ? fmt::format(" {}", current) : fmt::format(" {} B and up {}", from, current);
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace banyan::observe
