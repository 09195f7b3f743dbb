// banyan-topo: shows what the topology probe saw and which algorithm each collective and size
// gets, with the cost model's predicted time and the runner-up.
//
//   banyan-topo -np N [options]          probe N local ranks, then report
//   RANK=.. WORLD_SIZE=.. MASTER_ADDR=.. MASTER_PORT=.. banyan-topo [options]
//                                        one rank of a torchrun-style job; rank 0 reports
//   banyan-topo --topo FILE [options]    report a saved topology (BANYAN_TOPO_DUMP_FILE's, or --save's)
// options:
//   --save FILE    also write the topology (load it later with BANYAN_TOPO_FILE)
//   --predictions FILE   write every candidate's predicted time per collective and size
//   --dot FILE     write the picture as Graphviz DOT
//   --svg FILE / --png FILE   render it with Graphviz's dot
// BANYAN_ALGO, when set, shows in the table as it would in a job. The libfabric provider that
// BANYAN_TRANSPORT and BANYAN_OFI_PROVIDER select here, and its attributes, show at the end.

#include <banyan/communicator.hpp>

#include "bootstrap/local_launcher.hpp"
#include "common/status.hpp"
#include "config/config.hpp"
#include "tools/topo/topo_report.hpp"
#include "topology/topology.hpp"
#include "tuning/algo_override.hpp"
#include "tuning/selector.hpp"

#include <fmt/format.h>

#ifdef BANYAN_HAVE_OFI
#include "transports/ofi/fabric_probe.hpp"
#include "transports/ofi/ofi_loader.hpp"
#endif

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace {

constexpr const char* kProgram = "banyan-topo";

struct Args {
  std::optional<int> numRanks;
  std::string topoFile, saveFile, dotFile, svgFile, pngFile, predictionsFile;
};

void usage() {
  std::fprintf(stderr,
               "usage: %s (-np N | --topo FILE | under torchrun variables) [--save FILE] [--dot FILE] "
               "[--svg FILE] [--png FILE] [--predictions FILE]\n",
               kProgram);
}

std::optional<Args> parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: %s needs a value\n", kProgram, flag.c_str());
      return std::nullopt;
    }
    const std::string value = argv[++i];
    if (flag == "-np") {
      char* end = nullptr;
      const long n = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 1024) {
        std::fprintf(stderr, "%s: -np '%s' must be 1..1024\n", kProgram, value.c_str());
        return std::nullopt;
      }
      args.numRanks = static_cast<int>(n);
    } else if (flag == "--topo") {
      args.topoFile = value;
    } else if (flag == "--save") {
      args.saveFile = value;
    } else if (flag == "--predictions") {
      args.predictionsFile = value;
    } else if (flag == "--dot") {
      args.dotFile = value;
    } else if (flag == "--svg") {
      args.svgFile = value;
    } else if (flag == "--png") {
      args.pngFile = value;
    } else {
      std::fprintf(stderr, "%s: unknown option '%s'\n", kProgram, flag.c_str());
      return std::nullopt;
    }
  }
  return args;
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) banyan::fail(banyan::ErrorCode::System, "{}: cannot write {}", kProgram, path);
}

// Renders DOT with Graphviz's `dot` (Debian package graphviz).
void render(const std::string& dot, const std::string& format, const std::string& path) {
  const std::string dotPath = path + ".dot.tmp";
  writeFile(dotPath, dot);
  const std::string command = fmt::format("dot -T{} -o '{}' '{}'", format, path, dotPath);
  const int status = std::system(command.c_str());
  std::remove(dotPath.c_str());
  if (status != 0) {
    banyan::fail(banyan::ErrorCode::System, "{}: '{}' failed (status {}); is graphviz installed?", kProgram, command,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
}

// The libfabric provider this environment selects (the same choice a rank makes,
// transports/ofi/provider.hpp), described with its attributes, or why there is none. The ofi
// module is loaded only where a rank would load it (transports/ofi/ofi_kind.cpp).
std::string fabricReport(const banyan::config::Config& config) {
#ifdef BANYAN_HAVE_OFI
  const bool forced = config.transport == "ofi";
  if (!forced && config.transport != "auto") {
    return fmt::format("Fabric: libfabric not used (BANYAN_TRANSPORT={})\n", config.transport);
  }
  if (!forced && config.ofiProvider.empty() && !banyan::transport::ofi::findFabricDevice().found) {
    return "Fabric: no real fabric found; TCP between hosts (no fabric device, libfabric not loaded; "
           "BANYAN_OFI_PROVIDER names a software one)\n";
  }
  try {
    return banyan::transport::ofi::loadModule(config, -1).describeFabric(config);
  } catch (const std::exception& e) {
    return fmt::format("Fabric: {}\n", e.what());
  }
#else
  (void)config;
  return "Fabric: libfabric not built in (no libfabric-dev at build time)\n";
#endif
}

int report(const Args& args, const banyan::topology::Topology& topology) {
  const banyan::config::Config config = banyan::config::resolve({});
  const banyan::tuning::Selector selector(topology, banyan::tuning::parseAlgoOverride(config.algo));
  std::fputs(banyan::topo_tool::textReport(selector).c_str(), stdout);
  std::fputs(fabricReport(config).c_str(), stdout);
  if (!args.saveFile.empty()) banyan::topology::save(topology, args.saveFile);
  const std::string dot = banyan::topo_tool::dotReport(selector);
  if (!args.dotFile.empty()) writeFile(args.dotFile, dot);
  if (!args.predictionsFile.empty()) writeFile(args.predictionsFile, banyan::topo_tool::predictionTable(selector));
  if (!args.svgFile.empty()) render(dot, "svg", args.svgFile);
  if (!args.pngFile.empty()) render(dot, "png", args.pngFile);
  return 0;
}

// Every rank creates a communicator (the probe runs in its constructor); rank 0's probe writes
// the dump file, which is what the report shows.
// Returns the path and whether it is a temporary file of ours (removed after reading).
std::pair<std::string, bool> probeDumpPath() {
  const char* given = std::getenv("BANYAN_TOPO_DUMP_FILE");
  if (given != nullptr && *given != '\0') return {given, false};
  const std::string path = fmt::format("/tmp/banyan-topo-{}.txt", ::getpid());
  ::setenv("BANYAN_TOPO_DUMP_FILE", path.c_str(), 1);
  return {path, true};
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = parse(argc, argv);
  if (!args) {
    usage();
    return 2;
  }
  try {
    if (!args->topoFile.empty()) return report(*args, banyan::topology::load(args->topoFile));
    const char* rank = std::getenv("RANK");
    const char* banyanRank = std::getenv("BANYAN_RANK");
    if (args->numRanks) {
      const auto [path, temporary] = probeDumpPath();
      std::fflush(stdout);
      const auto exits = banyan::bootstrap::launchLocal(*args->numRanks, [](int) {
        try {
          banyan::Communicator::fromEnvironment();
          return 0;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "%s: %s\n", kProgram, e.what());
          return 1;
        }
      });
      for (const auto& exit : exits) {
        if (!exit.ok()) {
          std::fprintf(stderr, "%s: %s\n", kProgram, exit.describe().c_str());
          return 1;
        }
      }
      const auto topology = banyan::topology::load(path);
      if (temporary) std::remove(path.c_str());
      return report(*args, topology);
    }
    if ((rank != nullptr && *rank != '\0') || (banyanRank != nullptr && *banyanRank != '\0')) {
      const auto [path, temporary] = probeDumpPath();
      auto communicator = banyan::Communicator::fromEnvironment();
      if (communicator.rank() != 0) return 0;
      const auto topology = banyan::topology::load(path);
      if (temporary) std::remove(path.c_str());
      return report(*args, topology);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProgram, e.what());
    return 1;
  }
  std::fprintf(stderr, "%s: nothing to show: pass -np N, --topo FILE, or run it as each rank of a job\n", kProgram);
  usage();
  return 2;
}
