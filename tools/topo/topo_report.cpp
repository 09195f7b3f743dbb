#include "tools/topo/topo_report.hpp"

#include "common/collective.hpp"
#include "tuning/algo_override.hpp"
#include "tuning/cost_model.hpp"

#include <fmt/format.h>

namespace banyan::topo_tool {

namespace {

constexpr Collective kTabled[] = {Collective::Allreduce, Collective::Allgather};

std::string human(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= 1024 && bytes % 1024 == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

std::string figures(const topology::LinkFigures& f) {
  return fmt::format("{:.1f} us, {:.0f} MB/s ({})", f.latencyUs, f.bandwidthMBps, f.source);
}

std::string us(const std::optional<double>& value) { return value ? fmt::format("{:.1f}", *value) : "-"; }

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::vector<std::size_t> tableSizes() {
  std::vector<std::size_t> sizes;
  for (std::size_t s = 8; s <= (std::size_t{64} << 20); s *= 4) sizes.push_back(s);
  if (sizes.back() != (std::size_t{64} << 20)) sizes.push_back(std::size_t{64} << 20);
  return sizes;
}

std::string textReport(const tuning::Selector& selector) {
  const topology::Topology& t = selector.topology();
  std::string out = fmt::format("Topology: {} rank(s) on {} host(s)\n", t.size, t.hostCount());
  for (std::size_t h = 0; h < t.hosts.size(); ++h) {
    const auto& host = t.hosts[h];
    out += fmt::format("  host {} {}: {} rank(s) [{}], {} core(s), {} NUMA node(s), nic {}{}\n", h, host.name,
                       host.ranks.size(), fmt::join(host.ranks, ","), host.cores, host.numaNodes,
                       host.nic.empty() ? "-" : host.nic,
                       host.nicMbps > 0 ? fmt::format(" at {} Mbit/s", host.nicMbps) : std::string());
  }
  out += fmt::format("Links:\n  intra-host  {}\n  inter-host  {}{}\n  memory      {:.0f} MB/s ({})\n", figures(t.intra),
                     figures(t.inter), t.hostCount() > 1 ? "" : "  (unused: one host)", t.memory.bandwidthMBps,
                     t.memory.source);
  out += "Selection (bytes per rank's buffer; times are the cost model's predictions):\n";
  if (t.hostCount() == 1 && t.size > 1) {
    out +=
        "  (one host: allreduce and allgather run in the shared-memory engine (\"shm\") unless\n"
        "   BANYAN_SHM_COLLECTIVES=0 or a BANYAN_ALGO band forces a schedule; this table is\n"
        "   what the schedules would use)\n";
  }
  out += fmt::format("  {:<10} {:>9}  {:<20} {:>12}  {:<20} {:>12}  {}\n", "collective", "size", "algorithm",
                     "predicted us", "runner-up", "us", "why");
  for (Collective c : kTabled) {
    for (std::size_t size : tableSizes()) {
      const tuning::Choice choice = selector.choose(c, size);
      out += fmt::format("  {:<10} {:>9}  {:<20} {:>12}  {:<20} {:>12}  {}\n", tuning::collectiveName(c), human(size),
                         tuning::toString(choice.algorithm), us(choice.predictedUs),
                         choice.runnerUp ? std::string(tuning::toString(*choice.runnerUp)) : "-", us(choice.runnerUpUs),
                         choice.why);
    }
  }
  return out;
}

std::string predictionTable(const tuning::Selector& selector) {
  const topology::Topology& t = selector.topology();
  std::string out = "# collective bytes algorithm predicted_us\n";
  // Every collective a registry row has a cost formula for (bench/topo_model.py reads them all).
  for (Collective c : tuning::pricedCollectives()) {
    for (std::size_t size = 4; size <= (std::size_t{64} << 20); size *= 2) {
      for (tuning::Algorithm a : tuning::algorithmsOf(c)) {
        if (!tuning::unsupportedReason(c, a, t.size).empty()) continue;
        if (const auto us = tuning::predictUs(t, c, a, size)) {
          out += fmt::format("{} {} {} {:.2f}\n", tuning::collectiveName(c), size, tuning::toString(a), *us);
        }
      }
    }
  }
  return out;
}

std::string dotReport(const tuning::Selector& selector) {
  const topology::Topology& t = selector.topology();
  std::string out = "digraph banyan_topology {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  out += "  compound=true;\n";
  for (std::size_t h = 0; h < t.hosts.size(); ++h) {
    const auto& host = t.hosts[h];
    out += fmt::format("  subgraph cluster_host{} {{\n    label=\"{}\\n{} core(s), {} NUMA, nic {}\\nintra: {}\";\n", h,
                       escape(host.name), host.cores, host.numaNodes, host.nic.empty() ? "-" : escape(host.nic),
                       escape(figures(t.intra)));
    for (int rank : host.ranks) out += fmt::format("    r{} [label=\"rank {}\"];\n", rank, rank);
    out += "  }\n";
  }
  // One edge between each pair of hosts' first ranks, labelled with the inter-host figures.
  for (std::size_t a = 0; a < t.hosts.size(); ++a) {
    for (std::size_t b = a + 1; b < t.hosts.size(); ++b) {
      out += fmt::format("  r{} -> r{} [dir=both, ltail=cluster_host{}, lhead=cluster_host{}, label=\"{}\"];\n",
                         t.hosts[a].ranks.front(), t.hosts[b].ranks.front(), a, b, escape(figures(t.inter)));
    }
  }
  std::string table;
  for (Collective c : kTabled) {
    for (std::size_t size : tableSizes()) {
      const tuning::Choice choice = selector.choose(c, size);
      table +=
          fmt::format("{} {}: {} ({} us; runner-up {} {} us)\\l", tuning::collectiveName(c), human(size),
                      tuning::toString(choice.algorithm), us(choice.predictedUs),
                      choice.runnerUp ? std::string(tuning::toString(*choice.runnerUp)) : "-", us(choice.runnerUpUs));
    }
  }
  out += fmt::format("  selection [shape=note, fontname=\"Courier\", label=\"selection\\l{}\"];\n", table);
  out += "}\n";
  return out;
}

}  // namespace banyan::topo_tool
