#include "tools/sim/sim_validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include "common/status.hpp"
#include "simulate/simulate_call.hpp"
#include "tools/bench/bench_report.hpp"
#include "tools/sim/sim_common.hpp"
#include "tuning/algorithm_registry.hpp"

namespace banyan::sim_tool {

namespace {

namespace fs = std::filesystem;

struct Point {
  std::string layout, collective;
  std::size_t bytes = 0;
  std::string algorithm;
  double measuredUs = 0;         // median of the rounds
  double lowUs = 0, highUs = 0;  // the fastest and the slowest round
  double simulatedUs = -1;       // -1: not simulated
};

simulate::Cluster clusterOf(const topology::Topology& t, const std::string& where) {
  if (!t.blockLayout()) fail(ErrorCode::InvalidUsage, "{}: hosts of unequal or interleaved ranks", where);
  simulate::Cluster c;
  c.hosts = t.hostCount();
  c.ranksPerHost = t.size / t.hostCount();
  c.inter = {t.inter.latencyUs, t.inter.bandwidthMBps};
  c.intra = {t.intra.latencyUs, t.intra.bandwidthMBps};
  c.copyMBps = c.reduceMBps = t.memory.bandwidthMBps;
  return c;
}

std::optional<bench::Collective> benchCollective(const std::string& name) {
  for (int c = 0; c < bench::kCollectiveCount; ++c) {
    if (bench::collectiveName(static_cast<bench::Collective>(c)) == name) return static_cast<bench::Collective>(c);
  }
  return std::nullopt;
}

// DIR/LAYOUT_COLLECTIVE.tsv -> points (measured only).
std::vector<Point> readMeasurements(const fs::path& path) {
  const std::string stem = path.stem().string();
  const std::size_t underscore = stem.find('_');
  if (underscore == std::string::npos) fail(ErrorCode::InvalidUsage, "{}: not LAYOUT_COLLECTIVE.tsv", path.string());
  std::ifstream in(path);
  std::vector<Point> points;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Point p;
    double busbw = 0;
    p.layout = stem.substr(0, underscore);
    if (!(fields >> p.collective >> p.bytes >> p.algorithm >> p.measuredUs >> p.lowUs >> p.highUs >> busbw)) {
      fail(ErrorCode::InvalidUsage,
           "{}:{}: expected 'collective bytes variant median_us min_us max_us busbw', got '{}'", path.string(), number,
           line);
    }
    if (p.algorithm.rfind("auto", 0) == 0) continue;  // the automatic choice is one of the forced ones
    points.push_back(p);
  }
  return points;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Prints the median relative error of the points from `minBytes` up to (not including)
// `maxBytes`, and how often the fastest simulated algorithm of a size is the fastest measured:
// at every size, and at the sizes where the measured fastest is clear (its slowest round beat
// every other algorithm's fastest round; elsewhere the rounds cannot tell the two apart).
void summarize(const std::vector<Point>& points, std::size_t minBytes, std::size_t maxBytes, const char* label) {
  std::vector<double> errors;
  std::map<std::tuple<std::string, std::string, std::size_t>, std::vector<const Point*>> bySize;
  for (const Point& p : points) {
    if (p.simulatedUs < 0 || p.bytes < minBytes || p.bytes >= maxBytes) continue;
    errors.push_back(std::abs(p.simulatedUs - p.measuredUs) / p.measuredUs);
    bySize[{p.layout, p.collective, p.bytes}].push_back(&p);
  }
  int compared = 0, same = 0, within = 0, clear = 0, sameClear = 0;
  for (const auto& [key, ps] : bySize) {
    if (ps.size() < 2) continue;
    const auto measuredBest =
        *std::min_element(ps.begin(), ps.end(), [](auto a, auto b) { return a->measuredUs < b->measuredUs; });
    const auto simulatedBest =
        *std::min_element(ps.begin(), ps.end(), [](auto a, auto b) { return a->simulatedUs < b->simulatedUs; });
    const bool isClear = std::all_of(
        ps.begin(), ps.end(), [&](const Point* p) { return p == measuredBest || measuredBest->highUs < p->lowUs; });
    ++compared;
    same += measuredBest == simulatedBest;
    within += simulatedBest->measuredUs <= 1.1 * measuredBest->measuredUs;
    clear += isClear;
    sameClear += isClear && measuredBest == simulatedBest;
  }
  std::printf(
      "# %s: %zu points, median error %.0f%%; the simulation's fastest is the measured fastest at %d of %d "
      "sizes (%.0f%%), within 10%% of it at %d; where the measured fastest is clear, at %d of %d\n",
      label, errors.size(), 100 * median(errors), same, compared, compared ? 100.0 * same / compared : 0.0, within,
      sameClear, clear);
}

}  // namespace

int validate(const SimArgs& args) {
  const fs::path dir(args.validateDir);
  if (!fs::is_directory(dir)) fail(ErrorCode::InvalidUsage, "--validate {}: not a directory", args.validateDir);
  std::vector<fs::path> tables;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".tsv") tables.push_back(entry.path());
  }
  std::sort(tables.begin(), tables.end());
  if (tables.empty()) {
    fail(ErrorCode::InvalidUsage, "--validate {}: no LAYOUT_COLLECTIVE.tsv (bench/topo.sh writes them)",
         args.validateDir);
  }
  std::vector<Point> points;
  std::map<std::string, std::string> skipped;
  std::set<std::string> described;  // layouts whose figures are printed
  std::printf(
      "# banyan-sim --validate %s: measured (bench/topo.sh, median of rounds) against simulated, on the\n"
      "# topology each layout's job probed (LAYOUT.topo)\n",
      args.validateDir.c_str());
  std::printf("%-6s %-15s %10s %-19s %12s %12s %8s\n", "layout", "collective", "bytes", "algorithm", "measured_us",
              "simulated_us", "sim/meas");
  for (const fs::path& table : tables) {
    std::vector<Point> read = readMeasurements(table);
    if (read.empty()) continue;
    const fs::path topoPath = dir / (read.front().layout + ".topo");
    if (!fs::exists(topoPath)) fail(ErrorCode::InvalidUsage, "{}: no {} beside it", table.string(), topoPath.string());
    simulate::Cluster cluster = clusterOf(topology::load(topoPath.string()), topoPath.string());
    if (args.givenInter) cluster.inter = args.cluster.inter;
    if (args.givenIntra) cluster.intra = args.cluster.intra;
    if (args.givenMemory) cluster.copyMBps = cluster.reduceMBps = *args.givenMemory;
    if (args.givenReduce) cluster.reduceMBps = *args.givenReduce;
    if (args.givenIntraBandwidth) cluster.intra.bandwidthMBps = *args.givenIntraBandwidth;
    // The probe's latency is half a ping-pong, both ends' CPU in it: the wire's is what is left.
    cluster.inter.cpuUs = args.cluster.inter.cpuUs;
    cluster.intra.cpuUs = args.cluster.intra.cpuUs;
    if (!args.givenInter) cluster.inter.latencyUs = std::max(0.0, cluster.inter.latencyUs - 2 * cluster.inter.cpuUs);
    if (!args.givenIntra) cluster.intra.latencyUs = std::max(0.0, cluster.intra.latencyUs - 2 * cluster.intra.cpuUs);
    cluster.machineCores = args.cluster.machineCores;
    if (described.insert(read.front().layout).second)
      std::printf(
          "# %s: %d host(s) x %d, inter %.1f MB/s %.1f us cpu %.1f us, intra %.1f MB/s %.1f us cpu %.1f us, "
          "copy %.1f MB/s, reduce %.1f MB/s, machine cores %d\n",
          read.front().layout.c_str(), cluster.hosts, cluster.ranksPerHost, cluster.inter.bandwidthMBps,
          cluster.inter.latencyUs, cluster.inter.cpuUs, cluster.intra.bandwidthMBps, cluster.intra.latencyUs,
          cluster.intra.cpuUs, cluster.copyMBps, cluster.reduceMBps, cluster.machineCores);
    for (Point& p : read) {
      const auto collective = benchCollective(p.collective);
      const auto algorithm = tuning::algorithmFromName(p.algorithm);
      if (!collective || !algorithm)
        fail(ErrorCode::InvalidUsage, "{}: unknown '{} {}'", table.string(), p.collective, p.algorithm);
      if (!args.algorithms.empty() &&
          std::find(args.algorithms.begin(), args.algorithms.end(), *algorithm) == args.algorithms.end())
        continue;
      const bench::SizePlan plan = bench::planSize(*collective, p.bytes, DataType::f32, cluster.size());
      // banyan-algo-compare times batches of max(1, min(1000, 16 MiB / size)) calls back to back:
      // up to 16 of them are simulated so that calls overlap as they did there.
      const int batch =
          static_cast<int>(std::clamp<std::size_t>((16u << 20) / std::max<std::size_t>(p.bytes, 1), 1, 1000));
      simulate::Call call{toCollective(*collective),          *algorithm, plan.callCount, 4, 0, args.sliceBytes,
                          std::min(batch, args.validateCalls)};
      simulate::SimulateOptions options;
      options.maxSteps = args.maxSteps;
      options.maxGenerateSeconds = args.maxGenerateSeconds;
      const simulate::Outcome o = simulate::simulateCall(cluster, call, options);
      if (!o.ran) {
        skipped[fmt::format("{} {}: {}", p.layout, p.algorithm, o.why)] += fmt::format(" {}", p.bytes);
      } else {
        p.simulatedUs = o.us;
        std::printf("%-6s %-15s %10zu %-19s %12.1f %12.1f %8.2f\n", p.layout.c_str(), p.collective.c_str(), p.bytes,
                    p.algorithm.c_str(), p.measuredUs, p.simulatedUs, p.simulatedUs / p.measuredUs);
      }
      points.push_back(p);
    }
  }
  for (const auto& [what, sizes] : skipped) std::printf("# not simulated: %s (bytes%s)\n", what.c_str(), sizes.c_str());
  std::map<std::string, std::vector<Point>> byLayout;
  for (const Point& p : points) byLayout[p.layout].push_back(p);
  constexpr std::size_t kAll = ~std::size_t{0}, kLarge = 64 * 1024;
  for (const auto& [layout, ps] : byLayout) summarize(ps, 0, kAll, layout.c_str());
  summarize(points, 0, kAll, "all sizes");
  summarize(points, 0, kLarge, "below 64 KiB");
  summarize(points, kLarge, kAll, "from 64 KiB");
  return 0;
}

}  // namespace banyan::sim_tool
