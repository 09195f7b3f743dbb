#include "tools/sim/sim_args.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "tuning/algorithm_registry.hpp"

namespace banyan::sim_tool {

namespace {

constexpr long long kMaxRanks = 1 << 24;

// A decimal number at the start of `text`; `rest` is what follows it.
std::optional<double> leadingNumber(std::string_view text, std::string_view& rest) {
  std::size_t end = 0;
  while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) ++end;
  if (end == 0) return std::nullopt;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  if (ec != std::errc() || ptr != text.data() + end || !std::isfinite(value)) return std::nullopt;
  rest = text.substr(end);
  return value;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::optional<long long> wholeNumber(std::string_view text) {
  long long value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<bench::Collective> collectiveNamed(std::string_view name) {
  for (int c = 0; c < bench::kCollectiveCount; ++c) {
    const auto collective = static_cast<bench::Collective>(c);
    if (bench::collectiveName(collective) == name) return collective;
  }
  return std::nullopt;
}

// "--inter 100Gbit,5us"
std::optional<std::string> parseLink(std::string_view flag, std::string_view value, simulate::Link& link) {
  const std::size_t comma = value.find(',');
  const auto bad = [&](std::string_view what) {
    return fmt::format("{} '{}': {} (write BANDWIDTH,LATENCY, e.g. {} 100Gbit,5us or 20GB/s,1us)", flag, value, what,
                       flag);
  };
  if (comma == std::string_view::npos) return bad("no comma between bandwidth and latency");
  const auto bandwidth = parseBandwidth(value.substr(0, comma));
  if (!bandwidth) return bad(fmt::format("'{}' is not a bandwidth", value.substr(0, comma)));
  if (*bandwidth <= 0) return bad("the bandwidth must be more than 0");
  const auto latency = parseLatency(value.substr(comma + 1));
  if (!latency) return bad(fmt::format("'{}' is not a latency", value.substr(comma + 1)));
  link = {*latency, *bandwidth};
  return std::nullopt;
}

}  // namespace

std::optional<double> parseBandwidth(std::string_view text) {
  std::string_view rest;
  const auto number = leadingNumber(text, rest);
  if (!number) return std::nullopt;
  std::string unit = lower(rest);
  if (unit.size() > 2 && unit.compare(unit.size() - 2, 2, "/s") == 0) unit.resize(unit.size() - 2);
  // "Gbps": bits, as "Gbit".
  if (unit.size() > 3 && unit.compare(unit.size() - 3, 3, "bps") == 0) unit.replace(unit.size() - 3, 3, "bit");
  // Bytes per second (B) or bits per second (bit, b): decimal prefixes, as links are sold.
  struct Unit {
    const char* name;
    double mbps;  // MB/s per one of the unit
  };
  static const Unit kUnits[] = {
      {"gbit", 1000.0 / 8}, {"mbit", 1.0 / 8}, {"kbit", 0.001 / 8}, {"gb", 1000.0}, {"mb", 1.0}, {"kb", 0.001},
  };
  for (const Unit& u : kUnits) {
    if (unit == u.name) return *number * u.mbps;
  }
  return std::nullopt;
}

std::optional<double> parseLatency(std::string_view text) {
  std::string_view rest;
  const auto number = leadingNumber(text, rest);
  if (!number) return std::nullopt;
  const std::string unit = lower(rest);
  if (unit == "us") return *number;
  if (unit == "ns") return *number / 1000;
  if (unit == "ms") return *number * 1000;
  if (unit == "s") return *number * 1e6;
  if (unit.empty() && *number == 0) return 0.0;
  return std::nullopt;
}

std::string simUsage() {
  return "usage: banyan-sim COLLECTIVE --hosts H --ranks-per-host R --inter BW,LAT --intra BW,LAT [options]\n"
         "       banyan-sim --validate DIR [--algo A,B] [--inter BW,LAT] [--intra BW,LAT] [--memory BW]\n"
         "                  [--machine-cores N] [--inter-cpu LAT] [--intra-cpu LAT] [--intra-bw BW] [--calls N]\n"
         "Simulates the registry's schedules, event by event, on a modelled cluster and prints an\n"
         "nccl-tests-style table: per algorithm the simulated time of one call and its busbw, and the\n"
         "selector's pick (the cost model's) for each size. COLLECTIVE: allreduce, allgather,\n"
         "reduce_scatter, broadcast, reduce, alltoall, gather, scatter.\n"
         "  --hosts H              hosts (each with its own NIC)\n"
         "  --ranks-per-host R     ranks on each host (default 1); rank r is on host r / R\n"
         "  --inter BW,LAT         each host's NIC, each way, shared by its ranks: 100Gbit,5us\n"
         "  --intra BW,LAT         between ranks of one host, each rank's own: 20GB/s,1us\n"
         "  --memory BW            local copies (default: the intra bandwidth, or 10GB/s without --intra)\n"
         "  --reduce BW            reductions, bytes of result (default: the memory rate)\n"
         "  -b, -e, -f, -i         smallest and largest size, factor or step (as banyan-bench;\n"
         "                         default 8 B to 1 GiB, x4)\n"
         "  -d TYPE                element type (default float)   -r ROOT  root (default 0)\n"
         "  --algo A,B             only these algorithms (BANYAN_ALGO's names)\n"
         "  --slice-bytes N        the largest slice (BANYAN_SLICE_BYTES; default 1M)\n"
         "  --max-steps N          refuse a call whose whole run needs more steps (default 40000000)\n"
         "  --max-seconds S        refuse a whole run whose schedules would take longer to generate\n"
         "                         (estimated from host 0's; default 30)\n"
         "  --model                also print the cost model's time for each algorithm\n"
         "  --no-symmetry          simulate every rank even where one host stands for all\n"
         "  --inter-cpu LAT        a core's time each message between hosts costs either end (default 0)\n"
         "  --intra-cpu LAT        the same inside a host (default 0)\n"
         "  --machine-cores N      every rank runs on one machine of N cores (network-namespace hosts):\n"
         "                         work waits for a free core, and a message inside a host is a copy\n"
         "                         by its receiver (default 0: a core per rank)\n"
         "  --intra-bw BW          with --validate: the intra bandwidth only (the probed latency kept)\n"
         "  --calls N              with --validate: simulate up to N of each measured batch's calls back\n"
         "                         to back, as they ran (default 16; 1: one call alone)\n"
         "  --validate DIR         replay bench/topo.sh's output DIR (LAYOUT.topo, LAYOUT_COLL.tsv):\n"
         "                         simulated against measured per algorithm and size, on the figures\n"
         "                         each job probed, or those given with --inter, --intra, --memory\n"
         "Bandwidths: 100Gbit, 100Gbps, 10Gbit/s, 12.5GB/s, 800MB/s (decimal); latencies: 5us, 800ns, 2ms.\n";
}

std::variant<SimArgs, std::string> parseSimArgs(const std::vector<std::string_view>& argv) {
  SimArgs args;
  args.sweep.minBytes = 8;
  args.sweep.maxBytes = std::size_t{1} << 30;
  args.sweep.stepFactor = 4;
  args.sweep.dataType = DataType::f32;
  bool haveCollective = false, haveHosts = false, haveInter = false, haveIntra = false;
  std::optional<double> memory, reduce, interCpu, intraCpu;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string_view flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      args.help = true;
      return args;
    }
    const bool takesNoValue = flag == "--model" || flag == "--no-symmetry";
    if (takesNoValue) {
      (flag == "--model" ? args.model : args.symmetry) = flag == "--model";
      continue;
    }
    if (!flag.empty() && flag[0] != '-') {
      if (haveCollective)
        return fmt::format("one collective only: '{}' after '{}'", flag, bench::collectiveName(args.sweep.collective));
      const auto collective = collectiveNamed(flag);
      if (!collective || *collective == bench::Collective::sendrecv) {
        return fmt::format(
            "unknown collective '{}': one of allreduce, allgather, reduce_scatter, broadcast, reduce, "
            "alltoall, gather, scatter",
            flag);
      }
      args.sweep.collective = *collective;
      haveCollective = true;
      continue;
    }
    static const std::string_view kValued[] = {"--hosts",     "--ranks-per-host",
                                               "--inter",     "--intra",
                                               "--memory",    "--reduce",
                                               "-b",          "-e",
                                               "-f",          "-i",
                                               "-d",          "-r",
                                               "--algo",      "--slice-bytes",
                                               "--max-steps", "--max-seconds",
                                               "--validate",  "--inter-cpu",
                                               "--intra-cpu", "--machine-cores",
                                               "--calls",     "--intra-bw"};
    if (std::find(std::begin(kValued), std::end(kValued), flag) == std::end(kValued)) {
      return fmt::format("unknown option '{}' (banyan-sim --help lists them)", flag);
    }
    if (i + 1 >= argv.size()) return fmt::format("{} needs a value", flag);
    const std::string_view value = argv[++i];
    const auto bad = [&](std::string_view expected) {
      return fmt::format("{} '{}': expected {}", flag, value, expected);
    };
    if (flag == "--hosts" || flag == "--ranks-per-host") {
      const auto n = wholeNumber(value);
      if (!n || *n < 1 || *n > kMaxRanks) return bad(fmt::format("a whole number from 1 to {}", kMaxRanks));
      (flag == "--hosts" ? args.cluster.hosts : args.cluster.ranksPerHost) = static_cast<int>(*n);
      haveHosts = haveHosts || flag == "--hosts";
    } else if (flag == "--inter" || flag == "--intra") {
      if (auto why = parseLink(flag, value, flag == "--inter" ? args.cluster.inter : args.cluster.intra)) return *why;
      (flag == "--inter" ? haveInter : haveIntra) = true;
    } else if (flag == "--memory" || flag == "--reduce" || flag == "--intra-bw") {
      const auto rate = parseBandwidth(value);
      if (!rate || *rate <= 0) return bad("a bandwidth such as 20GB/s or 100Gbit");
      (flag == "--memory" ? memory : flag == "--reduce" ? reduce : args.givenIntraBandwidth) = *rate;
    } else if (flag == "-b" || flag == "-e" || flag == "-i" || flag == "--slice-bytes") {
      const auto bytes = bench::parseByteSize(value);
      if (!bytes || (flag == "--slice-bytes" && *bytes == 0)) return bad("a byte count such as 8, 4K, 64M or 1G");
      (flag == "-b"   ? args.sweep.minBytes
       : flag == "-e" ? args.sweep.maxBytes
       : flag == "-i" ? args.sweep.stepBytes
                      : args.sliceBytes) = *bytes;
      if (flag == "-i") args.sweep.stepFactor = 1;
    } else if (flag == "-f") {
      const auto n = wholeNumber(value);
      if (!n || *n < 1 || *n > 1024) return bad("a whole number from 1 to 1024");
      args.sweep.stepFactor = static_cast<std::size_t>(*n);
    } else if (flag == "-d") {
      const auto type = bench::parseDataTypeName(value);
      if (!type) return bad("a type such as float, f32, bf16, double");
      args.sweep.dataType = *type;
    } else if (flag == "-r") {
      const auto n = wholeNumber(value);
      if (!n || *n < 0) return bad("a rank, 0 or more");
      args.sweep.root = static_cast<int>(*n);
    } else if (flag == "--max-steps") {
      const auto n = wholeNumber(value);
      if (!n || *n < 1 || *n > 4'000'000'000LL) return bad("a whole number from 1 to 4000000000");
      args.maxSteps = static_cast<std::size_t>(*n);
    } else if (flag == "--max-seconds") {
      const auto n = wholeNumber(value);
      if (!n || *n < 1 || *n > 86400) return bad("whole seconds from 1 to 86400");
      args.maxGenerateSeconds = static_cast<double>(*n);
    } else if (flag == "--inter-cpu" || flag == "--intra-cpu") {
      const auto us = parseLatency(value);
      if (!us) return bad("a time such as 5us, 800ns or 0");
      (flag == "--inter-cpu" ? interCpu : intraCpu) = *us;
    } else if (flag == "--calls") {
      const auto n = wholeNumber(value);
      if (!n || *n < 1 || *n > 1000) return bad("a whole number from 1 to 1000");
      args.validateCalls = static_cast<int>(*n);
    } else if (flag == "--machine-cores") {
      const auto n = wholeNumber(value);
      if (!n || *n < 1 || *n > 1 << 20) return bad("a whole number from 1 to 1048576");
      args.cluster.machineCores = static_cast<int>(*n);
    } else if (flag == "--validate") {
      args.validateDir = std::string(value);
    } else if (flag == "--algo") {
      std::string_view rest = value;
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view name = rest.substr(0, comma);
        const auto algorithm = tuning::algorithmFromName(name);
        if (!algorithm) return fmt::format("--algo: unknown algorithm '{}'", name);
        args.algorithms.push_back(*algorithm);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      }
    }
  }
  // After the links: --inter and --intra set whole Links, the CPU figures included.
  args.cluster.inter.cpuUs = interCpu.value_or(0);
  args.cluster.intra.cpuUs = intraCpu.value_or(0);
  args.givenCpu = interCpu || intraCpu;
  if (!args.validateDir.empty()) {
    if (haveCollective || haveHosts) return "--validate takes its layouts from DIR: no collective or --hosts with it";
    args.givenInter = haveInter;
    args.givenIntra = haveIntra;
    args.givenMemory = memory;
    args.givenReduce = reduce;
    return args;
  }
  if (!haveCollective) return "no collective: banyan-sim allreduce --hosts 4 --inter 100Gbit,5us ... (--help)";
  if (!haveHosts) return "--hosts is missing: how many hosts to simulate";
  const simulate::Cluster& c = args.cluster;
  if (static_cast<long long>(c.hosts) * c.ranksPerHost > kMaxRanks) {
    return fmt::format("{} hosts x {} ranks per host is more than {} ranks", c.hosts, c.ranksPerHost, kMaxRanks);
  }
  if (!haveInter && c.hosts > 1) return "--inter is missing: each host's NIC, e.g. --inter 100Gbit,5us";
  if (!haveIntra && c.ranksPerHost > 1) return "--intra is missing: between ranks of a host, e.g. --intra 20GB/s,1us";
  // Never used (one host; one rank a host), but valid; the CPU figures set above stay.
  if (!haveInter) args.cluster.inter.bandwidthMBps = 1;
  if (!haveIntra) args.cluster.intra.bandwidthMBps = args.cluster.inter.bandwidthMBps;
  // Local copies: --memory, else the intra-host rate, else (one rank a host, no --intra) 10 GB/s.
  args.cluster.copyMBps = memory.value_or(haveIntra ? args.cluster.intra.bandwidthMBps : 10000.0);
  args.cluster.reduceMBps = reduce.value_or(args.cluster.copyMBps);
  if (args.sweep.minBytes > args.sweep.maxBytes) {
    return fmt::format("-b {} is larger than -e {}", args.sweep.minBytes, args.sweep.maxBytes);
  }
  if (args.sweep.stepFactor == 1 && args.sweep.stepBytes == 0) return "-i must be at least 1 when -f is 1";
  if (bench::hasRoot(args.sweep.collective) && args.sweep.root >= c.hosts * c.ranksPerHost) {
    return fmt::format("-r {}: the root must be a rank below {}", args.sweep.root, c.hosts * c.ranksPerHost);
  }
  return args;
}

}  // namespace banyan::sim_tool
