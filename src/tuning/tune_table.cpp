#include "tuning/tune_table.hpp"

#include "common/file_text.hpp"
#include "common/hash_mix.hpp"
#include "common/status.hpp"
#include "config/config.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace banyan::tuning {

namespace {

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line.substr(0, line.find('#')));
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

int positive(const std::string& text, const std::string& where, const std::string& line) {
  int value = 0;
  std::size_t used = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < 1 || value > 1'000'000) {
    fail(ErrorCode::InvalidUsage, "{}: '{}': '{}' is not a count of 1 or more (layout HOSTSxRANKS, e.g. layout 2x2)",
         where, line, text);
  }
  return value;
}

std::size_t bytes(const std::string& text, const std::string& where, const std::string& line) {
  try {
    return config::parseBytes(text, "tuning table size");
  } catch (const Error&) {
    fail(ErrorCode::InvalidUsage, "{}: '{}': '{}' is not a size (such as 0, 4096, 64K, 4M)", where, line, text);
  }
}

}  // namespace

std::string layoutName(int hosts, int ranksPerHost) { return fmt::format("{}x{}", hosts, ranksPerHost); }

std::pair<int, int> layoutOf(const topology::Topology& t) {
  const int per = t.maxRanksPerHost();
  for (const topology::HostInfo& host : t.hosts) {
    if (static_cast<int>(host.ranks.size()) != per) return {0, 0};
  }
  return {t.hostCount(), per};
}

std::uint64_t TuneTable::hash() const {
  HashMix mix;
  mix.add(static_cast<std::uint64_t>(hosts)).add(static_cast<std::uint64_t>(ranksPerHost)).add(entries.size());
  for (const TuneEntry& e : entries) {
    mix.add(static_cast<std::uint64_t>(e.band.collective))
        .add(e.band.low)
        .add(e.band.high)
        .add(static_cast<std::uint64_t>(e.band.algorithm));
  }
  return mix.value();
}

std::string TuneTable::layoutMismatch(const topology::Topology& topology) const {
  const auto [h, k] = layoutOf(topology);
  if (h == hosts && k == ranksPerHost) return {};
  const std::string mine =
      h == 0 ? fmt::format("{} ranks on {} hosts holding different rank counts", topology.size, topology.hostCount())
             : layoutName(h, k);
  return fmt::format("{} was measured on {} (hosts x ranks per host), this communicator is {}", path,
                     layoutName(hosts, ranksPerHost), mine);
}

const TuneEntry* TuneTable::find(Collective collective, std::size_t b) const {
  for (const TuneEntry& e : entries) {
    if (e.band.collective == collective && b >= e.band.low && b < e.band.high) return &e;
  }
  return nullptr;
}

TuneTable parseTuneTable(const std::string& text, const std::string& path) {
  TuneTable table;
  table.path = path;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::vector<std::string> w = words(line);
    if (w.empty()) continue;
    const std::string where = fmt::format("{}:{}", path, number);
    if (w[0] == "layout") {
      const auto x = w.size() == 2 ? w[1].find('x') : std::string::npos;
      if (x == std::string::npos) {
        fail(ErrorCode::InvalidUsage,
             "{}: '{}': expected 'layout HOSTSxRANKS' (hosts x ranks per host, e.g. layout 2x2)", where, line);
      }
      const int hosts = positive(w[1].substr(0, x), where, line);
      const int per = positive(w[1].substr(x + 1), where, line);
      if (table.hosts != 0 && (hosts != table.hosts || per != table.ranksPerHost)) {
        fail(ErrorCode::InvalidUsage, "{}: '{}' contradicts the earlier layout {}", where, line,
             layoutName(table.hosts, table.ranksPerHost));
      }
      table.hosts = hosts;
      table.ranksPerHost = per;
      continue;
    }
    if (table.hosts == 0) {
      fail(ErrorCode::InvalidUsage, "{}: '{}': a 'layout HOSTSxRANKS' line must come before the first band", where,
           line);
    }
    if (w.size() != 3) {
      fail(ErrorCode::InvalidUsage, "{}: '{}': expected 'COLLECTIVE LOW-HIGH ALGORITHM' (e.g. allreduce 0-64K ring)",
           where, line);
    }
    const auto collective = collectiveFromName(w[0]);
    if (!collective) {
      fail(ErrorCode::InvalidUsage,
           "{}: unknown collective '{}' (known: allreduce, allgather, reduce_scatter, broadcast, reduce, gather, "
           "scatter, alltoall, barrier)",
           where, w[0]);
    }
    const auto dash = w[1].find('-');
    if (dash == std::string::npos || dash + 1 == w[1].size()) {
      fail(ErrorCode::InvalidUsage, "{}: '{}': range '{}' must be LOW-HIGH (a table covers only what it measured)",
           where, line, w[1]);
    }
    Band band{*collective, bytes(w[1].substr(0, dash), where, line), bytes(w[1].substr(dash + 1), where, line),
              Algorithm::Ring};
    if (band.high <= band.low)
      fail(ErrorCode::InvalidUsage, "{}: '{}': range '{}' is empty (HIGH <= LOW)", where, line, w[1]);
    const auto algorithm = algorithmFromName(w[2]);
    if (!algorithm || !servesOf(*algorithm, *collective)) {
      fail(ErrorCode::InvalidUsage, "{}: {} has no algorithm '{}' (it has: {})", where, w[0], w[2],
           algorithmNames(*collective));
    }
    band.algorithm = *algorithm;
    const int size = table.hosts * table.ranksPerHost;
    if (const std::string why = unsupportedReason(band.collective, band.algorithm, size); !why.empty()) {
      fail(ErrorCode::InvalidUsage, "{}: '{}': cannot run on the table's layout {}: {}", where, line,
           layoutName(table.hosts, table.ranksPerHost), why);
    }
    for (const TuneEntry& other : table.entries) {
      if (other.band.collective == band.collective && band.low < other.band.high && other.band.low < band.high) {
        fail(ErrorCode::InvalidUsage, "{}: '{}' overlaps the band of line {}", where, line, other.line);
      }
    }
    table.entries.push_back({band, number});
  }
  if (table.hosts == 0) fail(ErrorCode::InvalidUsage, "{}: no 'layout HOSTSxRANKS' line: not a tuning table", path);
  return table;
}

TuneTable loadTuneTable(const std::string& path) {
  const std::optional<std::string> text = readFileText(path);
  if (!text) fail(ErrorCode::InvalidUsage, "BANYAN_TUNE_FILE: cannot read '{}'", path);
  return parseTuneTable(*text, path);
}

}  // namespace banyan::tuning
