// banyan-sim: the registry's schedules, simulated event by event on a modelled cluster
// (src/simulate/), as an nccl-tests-style table: per algorithm the simulated time of one call
// and its busbw, the selector's pick for each size, and the fastest simulated algorithm.
// docs/simulation.md describes the model; tools/sim/sim_args.hpp the command line.

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "simulate/simulate_call.hpp"
#include "tools/bench/bench_report.hpp"
#include "tools/sim/sim_args.hpp"
#include "tools/sim/sim_common.hpp"
#include "tools/sim/sim_validate.hpp"
#include "tuning/algorithm_registry.hpp"
#include "tuning/cost_model.hpp"
#include "tuning/selector.hpp"

namespace {

using namespace banyan;
using sim_tool::SimArgs;

std::string header(const SimArgs& args, const std::vector<tuning::Algorithm>& algorithms) {
  const simulate::Cluster& c = args.cluster;
  std::string out = fmt::format(
      "# banyan-sim {}: {} hosts x {} ranks = {} ranks; inter {:.1f} MB/s {} us (a host's NIC, each way), intra {:.1f} "
      "MB/s {} us, copy {:.1f} MB/s, reduce {:.1f} MB/s; {}, slices up to {}\n",
      bench::collectiveName(args.sweep.collective), c.hosts, c.ranksPerHost, c.size(), c.inter.bandwidthMBps,
      c.inter.latencyUs, c.intra.bandwidthMBps, c.intra.latencyUs, c.copyMBps, c.reduceMBps,
      bench::ncclTypeName(args.sweep.dataType), sim_tool::formatBytes(args.sliceBytes));
  out +=
      "# time: simulated microseconds of one call; busbw: GB/s as nccl-tests counts it; pick: the selector's\n"
      "# choice for the size (the cost model on the same figures); best: the fastest simulated\n";
  const int cell = args.model ? 32 : 20;
  std::string names = fmt::format("#{:>32}", "");
  std::string columns = fmt::format("#{:>11} {:>12} {:>7}", "size", "count", "type");
  for (tuning::Algorithm a : algorithms) {
    names += fmt::format(" {:>{}}", tuning::toString(a), cell);
    columns += fmt::format(" {:>11} {:>8}", "time(us)", "busbw");
    if (args.model) columns += fmt::format(" {:>11}", "model(us)");
  }
  return out + names + "\n" + columns + fmt::format(" {:>20} {:>20}\n", "pick", "best");
}

int sweep(const SimArgs& args) {
  const Collective collective = sim_tool::toCollective(args.sweep.collective);
  const int n = args.cluster.size();
  std::vector<tuning::Algorithm> algorithms = args.algorithms;
  if (algorithms.empty()) algorithms = sim_tool::defaultAlgorithms(collective, n);
  for (tuning::Algorithm a : algorithms) {
    if (const std::string why = tuning::unsupportedReason(collective, a, n); !why.empty()) {
      std::fprintf(stderr, "banyan-sim: --algo: %s\n", why.c_str());
      return 2;
    }
  }
  const topology::Topology topology = sim_tool::topologyOf(args.cluster);
  const tuning::Selector selector(topology, {});
  const std::size_t element = bench::elementSize(args.sweep.dataType);
  const double busFactor = bench::busBandwidthFactor(args.sweep.collective, n);
  std::fputs(header(args, algorithms).c_str(), stdout);
  std::fflush(stdout);
  std::map<std::string, std::string> notes;  // "algorithm: why" -> the sizes it applies to
  std::map<std::string, int> how;            // "algorithm: symmetry" -> how many sizes
  const auto began = std::chrono::steady_clock::now();
  for (std::size_t bytes : bench::sweepSizes(args.sweep)) {
    const bench::SizePlan plan = bench::planSize(args.sweep.collective, bytes, args.sweep.dataType, n);
    std::string row =
        fmt::format(" {:>11} {:>12} {:>7}", plan.bytes, plan.count, bench::ncclTypeName(args.sweep.dataType));
    double bestUs = 0;
    std::string best = "-";
    for (tuning::Algorithm a : algorithms) {
      simulate::Call call{collective, a, plan.callCount, element, args.sweep.root, args.sliceBytes};
      simulate::SimulateOptions options;
      options.maxSteps = args.maxSteps;
      options.maxGenerateSeconds = args.maxGenerateSeconds;
      options.useSymmetry = args.symmetry;
      const simulate::Outcome o = simulate::simulateCall(args.cluster, call, options);
      const std::string name(tuning::toString(a));
      if (o.ran) {
        row += fmt::format(" {:>11} {:>8.3f}", sim_tool::formatUs(o.us),
                           bench::algorithmBandwidth(plan.bytes, o.us) * busFactor);
        ++how[fmt::format("{}: {} ({} ranks run)", name, simulate::toString(o.symmetry), o.simulatedRanks)];
        if (best == "-" || o.us < bestUs) {
          bestUs = o.us;
          best = name;
        }
      } else {
        row += fmt::format(" {:>11} {:>8}", "-", "-");
        std::string& sizes = notes[fmt::format("{}: {}", name, o.why)];
        sizes += (sizes.empty() ? "" : ", ") + sim_tool::formatBytes(plan.bytes);
      }
      if (args.model) {
        const auto us = tuning::predictUs(topology, collective, a, plan.callCount * element);
        row += fmt::format(" {:>11}", us ? sim_tool::formatUs(*us) : "-");
      }
    }
    const tuning::Choice choice = selector.choose(collective, plan.callCount * element);
    row += fmt::format(" {:>20} {:>20}\n", tuning::toString(choice.algorithm), best);
    std::fputs(row.c_str(), stdout);
    std::fflush(stdout);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  for (const auto& [what, count] : how) std::printf("# run: %s, %d size(s)\n", what.c_str(), count);
  for (const auto& [what, sizes] : notes) std::printf("# not run: %s (sizes %s)\n", what.c_str(), sizes.c_str());
  std::printf("# simulated in %.1f s\n", seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> argv_(argv, argv + argc);
  auto parsed = sim_tool::parseSimArgs(argv_);
  if (const std::string* error = std::get_if<std::string>(&parsed)) {
    std::fprintf(stderr, "banyan-sim: %s\n", error->c_str());
    return 2;
  }
  const SimArgs& args = std::get<SimArgs>(parsed);
  if (args.help) {
    std::fputs(sim_tool::simUsage().c_str(), stdout);
    return 0;
  }
  try {
    return args.validateDir.empty() ? sweep(args) : sim_tool::validate(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banyan-sim: %s\n", e.what());
    return 1;
  }
}
