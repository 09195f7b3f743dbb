#include "topology/topology.hpp"

#include "common/file_text.hpp"
#include "common/status.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

namespace banyan::topology {

int Topology::maxRanksPerHost() const {
  std::size_t most = 0;
  for (const auto& host : hosts) most = std::max(most, host.ranks.size());
  return static_cast<int>(most);
}

bool Topology::blockLayout() const {
  if (hosts.empty() || size % hostCount() != 0) return false;
  const int perHost = size / hostCount();
  for (int rank = 0; rank < size; ++rank) {
    if (hostOfRank[static_cast<std::size_t>(rank)] != rank / perHost) return false;
  }
  return true;
}

namespace {

std::string linkLine(const char* name, const LinkFigures& f) {
  return fmt::format("link {} latency_us={:.3f} bandwidth_mbps={:.1f} source={}\n", name, f.latencyUs, f.bandwidthMBps,
                     f.source);
}

// One "key=value key=value" record after its leading words.
struct Record {
  std::vector<std::string> words;  // before the first key=value
  std::map<std::string, std::string> values;
};

Record split(const std::string& line) {
  Record record;
  std::istringstream in(line);
  std::string token;
  while (in >> token) {
    const auto eq = token.find('=');
    if (eq == std::string::npos) {
      record.words.push_back(token);
    } else {
      record.values[token.substr(0, eq)] = token.substr(eq + 1);
    }
  }
  return record;
}

class Parser {
 public:
  Parser(std::string where) : where_(std::move(where)) {}

  void setLine(int line) { line_ = line; }

  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    fail(ErrorCode::InvalidUsage, "topology {} line {}: {}", where_, line_,
         fmt::format(format, std::forward<Args>(args)...));
  }

  const std::string& need(const Record& r, const char* key) const {
    auto it = r.values.find(key);
    if (it == r.values.end()) error("missing {}=", key);
    return it->second;
  }

  long integer(const std::string& text, const char* what, long low, long high) const {
    long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high) {
      error("{} '{}' is not an integer in {}..{}", what, text, low, high);
    }
    return value;
  }

  double positive(const std::string& text, const char* what) const {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !(value > 0) || value > 1e12) {
      error("{} '{}' is not a positive number", what, text);
    }
    return value;
  }

  LinkFigures link(const Record& r, bool latency) const {
    LinkFigures f;
    if (latency) f.latencyUs = positive(need(r, "latency_us"), "latency_us");
    f.bandwidthMBps = positive(need(r, "bandwidth_mbps"), "bandwidth_mbps");
    auto it = r.values.find("source");
    f.source = it == r.values.end() ? "file" : it->second;
    return f;
  }

 private:
  std::string where_;
  int line_ = 0;
};

}  // namespace

std::string toText(const Topology& t) {
  std::string text = "banyan-topology 1\n";
  text += fmt::format("ranks {}\n", t.size);
  for (std::size_t h = 0; h < t.hosts.size(); ++h) {
    const HostInfo& host = t.hosts[h];
    text += fmt::format("host {} name={} ranks={} cores={} numa={} nic={} nic_mbps={}\n", h,
                        host.name.empty() ? "-" : host.name, fmt::join(host.ranks, ","), host.cores, host.numaNodes,
                        host.nic.empty() ? "-" : host.nic, host.nicMbps);
  }
  text += linkLine("intra", t.intra);
  text += linkLine("inter", t.inter);
  text += fmt::format("memory bandwidth_mbps={:.1f} source={}\n", t.memory.bandwidthMBps, t.memory.source);
  return text;
}

Topology parse(const std::string& text, const std::string& where) {
  Parser p(where);
  Topology t;
  t.size = 0;
  bool header = false, intra = false, inter = false, memory = false;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    p.setLine(++number);
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    const Record r = split(line);
    if (r.words.empty()) {
      if (!r.values.empty()) p.error("a record must start with a word (banyan-topology, ranks, host, link, memory)");
      continue;
    }
    const std::string& kind = r.words[0];
    if (kind == "banyan-topology") {
      if (r.words.size() != 2 || r.words[1] != "1")
        p.error("unsupported format '{}' (expected 'banyan-topology 1')", line);
      header = true;
    } else if (!header) {
      p.error("the first record must be 'banyan-topology 1', not '{}'", kind);
    } else if (kind == "ranks") {
      if (r.words.size() != 2) p.error("expected 'ranks N'");
      t.size = static_cast<int>(p.integer(r.words[1], "rank count", 1, 1 << 20));
      t.hostOfRank.assign(static_cast<std::size_t>(t.size), -1);
    } else if (kind == "host") {
      if (t.size == 0) p.error("'host' before 'ranks'");
      if (r.words.size() != 2) p.error("expected 'host INDEX key=value...'");
      const auto index = p.integer(r.words[1], "host index", 0, 1 << 20);
      if (index != static_cast<long>(t.hosts.size()))
        p.error("host {} out of order (expected {})", index, t.hosts.size());
      HostInfo host;
      host.name = p.need(r, "name");
      std::istringstream ranks(p.need(r, "ranks"));
      std::string item;
      while (std::getline(ranks, item, ',')) {
        const int rank = static_cast<int>(p.integer(item, "rank", 0, t.size - 1));
        if (t.hostOfRank[static_cast<std::size_t>(rank)] != -1) {
          p.error("rank {} is on host {} already", rank, t.hostOfRank[static_cast<std::size_t>(rank)]);
        }
        t.hostOfRank[static_cast<std::size_t>(rank)] = static_cast<int>(index);
        host.ranks.push_back(rank);
      }
      if (host.ranks.empty()) p.error("host {} has no ranks", index);
      std::sort(host.ranks.begin(), host.ranks.end());
      if (auto it = r.values.find("cores"); it != r.values.end())
        host.cores = static_cast<int>(p.integer(it->second, "cores", 0, 1 << 20));
      if (auto it = r.values.find("numa"); it != r.values.end())
        host.numaNodes = static_cast<int>(p.integer(it->second, "numa", 0, 1 << 16));
      if (auto it = r.values.find("nic"); it != r.values.end() && it->second != "-") host.nic = it->second;
      if (auto it = r.values.find("nic_mbps"); it != r.values.end())
        host.nicMbps = static_cast<int>(p.integer(it->second, "nic_mbps", 0, 1 << 30));
      t.hosts.push_back(std::move(host));
    } else if (kind == "link") {
      if (r.words.size() != 2 || (r.words[1] != "intra" && r.words[1] != "inter"))
        p.error("expected 'link intra|inter ...'");
      (r.words[1] == "intra" ? t.intra : t.inter) = p.link(r, true);
      (r.words[1] == "intra" ? intra : inter) = true;
    } else if (kind == "memory") {
      t.memory = p.link(r, false);
      memory = true;
    } else {
      p.error("unknown record '{}'", kind);
    }
  }
  p.setLine(number);
  if (!header) p.error("empty: no 'banyan-topology 1' record");
  if (t.size == 0) p.error("no 'ranks N' record");
  for (int rank = 0; rank < t.size; ++rank) {
    if (t.hostOfRank[static_cast<std::size_t>(rank)] < 0) p.error("rank {} is on no host", rank);
  }
  if (!intra || !inter || !memory) p.error("needs 'link intra', 'link inter' and 'memory' records");
  return t;
}

void save(const Topology& topology, const std::string& path) {
  std::ofstream out(path);
  out << "# written by banyan: what the topology probe saw\n" << toText(topology);
  out.close();
  if (!out) fail(ErrorCode::System, "topology: cannot write {}", path);
}

Topology load(const std::string& path) {
  const std::optional<std::string> text = readFileText(path);
  if (!text) fail(ErrorCode::InvalidUsage, "topology: cannot read {}", path);
  return parse(*text, path);
}

Topology uniform(int hosts, int ranksPerHost, LinkFigures intra, LinkFigures inter, LinkFigures memory) {
  Topology t;
  t.size = hosts * ranksPerHost;
  for (int h = 0; h < hosts; ++h) {
    HostInfo host;
    host.name = fmt::format("host{}", h);
    for (int i = 0; i < ranksPerHost; ++i) {
      host.ranks.push_back(h * ranksPerHost + i);
      t.hostOfRank.push_back(h);
    }
    t.hosts.push_back(std::move(host));
  }
  t.intra = std::move(intra);
  t.inter = std::move(inter);
  t.memory = std::move(memory);
  return t;
}

}  // namespace banyan::topology
