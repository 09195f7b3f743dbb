#pragma once
// Command line of banyan-sim (docs/simulation.md):
//   banyan-sim COLLECTIVE --hosts H --ranks-per-host R --inter BW,LAT --intra BW,LAT
//              [-b MIN] [-e MAX] [-f FACTOR | -i STEP] [-d TYPE] [-r ROOT] [--algo A,B]
//              [--memory BW] [--reduce BW] [--slice-bytes N] [--max-steps N] [--max-seconds S]
//              [--model] [--no-symmetry] [--inter-cpu LAT] [--intra-cpu LAT] [--machine-cores N]
//   banyan-sim --validate DIR [--algo A,B] [--max-steps N] [--inter BW,LAT] [--intra BW,LAT] [--memory BW]
//              [--inter-cpu LAT] [--intra-cpu LAT] [--machine-cores N] [--intra-bw BW] [--calls N]
//              (the figures given replace those the measured job probed)
// Bandwidths as 100Gbit (bits per second, decimal), 12.5GB/s, 800MB/s; latencies as 5us,
// 1.5us, 800ns, 2ms. Sizes and the sweep as banyan-bench's (nccl-tests').

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "simulate/cluster.hpp"
#include "tools/bench/bench_args.hpp"
#include "tuning/algorithm.hpp"

namespace banyan::sim_tool {

struct SimArgs {
  bench::BenchArgs sweep;  // collective, -b/-e/-f/-i, -d, -r as banyan-bench reads them
  simulate::Cluster cluster;
  std::vector<tuning::Algorithm> algorithms;  // empty: every one the collective has a schedule for
  std::size_t sliceBytes = 1024 * 1024;
  std::size_t maxSteps = 40'000'000;
  double maxGenerateSeconds = 30;  // --max-seconds
  bool model = false;              // also print the cost model's prediction per algorithm
  bool symmetry = true;            // false: simulate every rank (--no-symmetry)
  std::string validateDir;         // --validate DIR
  // With --validate: the figures given on the command line replace the probed ones.
  bool givenInter = false, givenIntra = false;
  std::optional<double> givenMemory, givenReduce;
  std::optional<double> givenIntraBandwidth;  // --intra-bw: the intra bandwidth alone, the probed latency kept
  bool givenCpu = false;
  int validateCalls = 16;  // --calls: how many of a measured batch's calls to simulate back to back  // --inter-cpu or
                           // --intra-cpu (in cluster.inter/intra.cpuUs)
  bool help = false;
};

// The arguments, or a message naming what is wrong (for "banyan-sim: MESSAGE").
std::variant<SimArgs, std::string> parseSimArgs(const std::vector<std::string_view>& argv);

std::string simUsage();

// "100Gbit", "12.5GB/s", "800MB/s", "10Gbit/s" -> MB/s (10^6 bytes per second).
std::optional<double> parseBandwidth(std::string_view text);
// "5us", "1.5us", "800ns", "2ms", "0" -> microseconds.
std::optional<double> parseLatency(std::string_view text);

}  // namespace banyan::sim_tool
