// banyan-algo-compare: every candidate algorithm of one collective, forced, against the
// automatic choice, measured in the same processes (bench/topo.sh, issue 4).
//
//   banyan-algo-compare COLLECTIVE [-np N] [--sizes 8,32,...,64M] [--repeats R] [--out FILE]
//                       [--tune-out TABLE] [--table TABLE]
//     COLLECTIVE: allreduce, allgather, reduce_scatter or broadcast (root 0)
//     -np N: N local ranks (banyan's launcher); without it, one rank of a job described by the
//            environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as torchrun sets them)
//
// Why in the same processes: this machine is shared, and its load drifts by more than the 10%
// the selection is judged by; runs of one algorithm after another put different loads on each.
// Here every rank opens one communicator per candidate (Options::algo forcing it for every
// size: the forced schedule runs even on one host, where the shared-memory engine would take
// the call) and one with no override (the automatic choice), and for each size times R rounds
// of one batch on each, the order rotating by one each round so that no candidate always runs
// first or after the same neighbour. A candidate the communicator refuses (shm across hosts,
// recursive halving on 3 ranks) is left out and said so.
//
// With BANYAN_TOPO_DUMP_FILE set (on every rank alike), the automatic communicator's probe is saved there and the
// forced ones load it (Options::topoFile) instead of probing again: one topology for all, and
// rank 0 prints what the selector picks from it per size ("# pick" lines; on one host the
// shared-memory engine takes allreduce and allgather before the model is asked).
//
// Sizes are nccl-tests' (banyan-bench's): allreduce and broadcast the buffer, allgather what
// each rank receives, reduce_scatter what each rank sends; f32 data, at least one element per
// rank. A batch is max(1, min(1000, 16 MiB / size)) calls, timed on rank 0 between two barriers.
// Rank 0 prints, and writes to --out, one line per (size, variant):
//   collective bytes variant median_us min_us max_us busbw_GBps
// The load average at the start and end of each size goes into the output as "# load" lines.
//
// --tune-out TABLE: rank 0 also writes a tuning table (BANYAN_TUNE_FILE, tuning/tune_table.hpp)
// from these measurements: for each size, the forced candidate with the lowest median, over a
// band from the geometric midpoint with the size below to the one with the size above (the
// smallest size's band starts at 0, the largest's ends at twice it: beyond, the model). The
// other collectives' bands already in TABLE are kept (one run per collective fills one file);
// a TABLE of another layout is refused.
// --table TABLE: one more variant, "auto-table": the automatic choice with TABLE loaded
// (Options::tuneFile); "auto" stays the model's own choice. The table must be readable on
// every rank.

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>

#include "bootstrap/environment.hpp"
#include "bootstrap/local_launcher.hpp"
#include "common/file_text.hpp"
#include "config/config.hpp"
#include "tools/bench/bench_report.hpp"
#include "topology/topology.hpp"
#include "tuning/algo_override.hpp"
#include "tuning/selector.hpp"
#include "tuning/tune_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using namespace banyan;
using Clock = std::chrono::steady_clock;

struct Args {
  Collective collective = Collective::Allreduce;
  bench::Collective benchCollective = bench::Collective::allreduce;
  int ranks = 0;  // 0: from the environment
  std::vector<std::size_t> sizes;
  int repeats = 7;
  std::string out;
  std::string tuneOut;
  std::string table;
};

struct Variant {
  std::string name;  // "auto" or the algorithm's BANYAN_ALGO name
  std::optional<Communicator> comm;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string loadAverage() {
  std::ifstream file("/proc/loadavg");
  std::string one, five, fifteen;
  file >> one >> five >> fifteen;
  return fmt::format("{} {} {}", one, five, fifteen);
}

// The bench's plan for a sweep size, with at least one f32 element per rank.
bench::SizePlan planFor(const Args& args, std::size_t sweep, int n) {
  const bench::SizePlan plan = bench::planSize(args.benchCollective, sweep, DataType::f32, n);
  if (plan.callCount > 0) return plan;
  return bench::planSize(args.benchCollective, sizeof(float) * static_cast<std::size_t>(n), DataType::f32, n);
}

// Microseconds per call of `calls` calls on `comm`, from a barrier to a barrier: without the
// second one, a broadcast root's clock would stop once its own sends were out, and a batch of
// broadcasts would measure how fast the root injects them rather than how long they take.
double timeBatch(Communicator& comm, const Args& args, std::vector<float>& send, std::vector<float>& recv,
                 std::size_t callCount, int calls) {
  comm.barrier();
  const auto start = Clock::now();
  for (int i = 0; i < calls; ++i) {
    switch (args.collective) {
      case Collective::Allreduce:
        comm.allreduce(send.data(), recv.data(), callCount, DataType::f32, ReduceOp::sum);
        break;
      case Collective::Allgather:
        comm.allgather(send.data(), recv.data(), callCount, DataType::f32);
        break;
      case Collective::ReduceScatter:
        comm.reduceScatter(send.data(), recv.data(), callCount, DataType::f32, ReduceOp::sum);
        break;
      default:
        comm.broadcast(send.data(), callCount, DataType::f32, 0);
        break;
    }
  }
  comm.barrier();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / calls;
}

// One communicator per variant over the job's store; candidates the communicator refuses are
// left out (all ranks refuse alike: the reason depends on the layout and rank count only).
// `topoFile`: BANYAN_TOPO_DUMP_FILE as every rank has it ("" when unset).
std::vector<Variant> openVariants(const bootstrap::JobEnvironment& job, const Args& args, const std::string& topoFile,
                                  std::string& notes) {
  std::vector<Variant> variants;
  Options automatic;
  automatic.algo = "";      // no bands: whatever BANYAN_ALGO says, this one chooses
  automatic.tuneFile = "";  // nor a table: the model's choice
  variants.push_back({"auto", Communicator::create(job.store, job.rank, job.size, automatic)});
  if (!topoFile.empty()) variants[0].comm->barrier();  // rank 0 has saved it
  if (!args.table.empty()) {
    Options tabled = automatic;
    tabled.tuneFile = args.table;
    if (!topoFile.empty()) tabled.topoFile = topoFile;
    variants.push_back({"auto-table", Communicator::create(job.store, job.rank, job.size, tabled)});
  }
  const std::string collective(tuning::collectiveName(args.collective));
  for (const tuning::Algorithm algorithm : tuning::algorithmsOf(args.collective)) {
    const std::string name(tuning::toString(algorithm));
    Options forced;
    forced.algo = fmt::format("{}:0-:{}", collective, name);
    forced.tuneFile = "";
    if (!topoFile.empty()) forced.topoFile = topoFile;
    try {
      variants.push_back({name, Communicator::create(job.store, job.rank, job.size, forced)});
    } catch (const Error& e) {
      if (e.code() != ErrorCode::InvalidUsage) throw;
      notes += fmt::format("# not a candidate here: {}: {}\n", name, e.what());
    }
  }
  return variants;
}

// The fastest forced variant per measured size (in choose()'s bytes), as table bands: see
// --tune-out above. Keeps TABLE's lines of other collectives.
void writeTable(const Args& args, int n, const std::vector<std::pair<std::size_t, std::string>>& fastest,
                const std::string& measuredOn) {
  std::string kept;
  const std::string collective(tuning::collectiveName(args.collective));
  if (const std::optional<std::string> text = readFileText(args.tuneOut)) {
    const tuning::TuneTable table = tuning::parseTuneTable(*text, args.tuneOut);
    if (tuning::layoutName(table.hosts, table.ranksPerHost) != measuredOn) {
      throw Error(ErrorCode::InvalidUsage,
                  fmt::format("--tune-out {} holds a table for layout {}, this job is {}", args.tuneOut,
                              tuning::layoutName(table.hosts, table.ranksPerHost), measuredOn));
    }
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
      // This collective's bands and its "# collective:" note are replaced below.
      if (line.rfind("layout ", 0) == 0 || line.rfind(collective + " ", 0) == 0 ||
          line.rfind("# " + collective + ":", 0) == 0) {
        continue;
      }
      kept += line + "\n";
    }
  }
  std::string out = fmt::format("layout {}\n{}", measuredOn, kept);
  out += fmt::format("# {}: measured by banyan-algo-compare on {} ranks, {} rounds per size (median), load {}\n",
                     collective, n, args.repeats, loadAverage());
  for (std::size_t i = 0; i < fastest.size(); ++i) {
    const std::size_t bytes = fastest[i].first;
    const std::size_t low =
        i == 0 ? 0 : static_cast<std::size_t>(std::sqrt(static_cast<double>(fastest[i - 1].first) * bytes)) + 1;
    const std::size_t high =
        i + 1 == fastest.size()
            ? 2 * bytes
            : static_cast<std::size_t>(std::sqrt(static_cast<double>(bytes) * fastest[i + 1].first)) + 1;
    out += fmt::format("{} {}-{} {}\n", collective, low, high, fastest[i].second);
  }
  std::ofstream file(args.tuneOut, std::ios::trunc);
  if (!(file << out)) throw Error(ErrorCode::System, fmt::format("cannot write {}", args.tuneOut));
}

int runRank(const bootstrap::JobEnvironment& job, const Args& args) {
  std::string notes;
  const char* dumped = std::getenv("BANYAN_TOPO_DUMP_FILE");
  const std::string topoFile = dumped ? dumped : "";
  // --tune-out names the layout it measured, which rank 0 reads from the automatic
  // communicator's topology: saved where BANYAN_TOPO_DUMP_FILE says, or (rank 0 only: only
  // rank 0 writes the dump) in a file of its own.
  std::string layoutFile = topoFile;
  if (job.rank == 0 && !args.tuneOut.empty() && layoutFile.empty()) {
    layoutFile = fmt::format("{}.topo-{}", args.tuneOut, static_cast<long>(getpid()));
    setenv("BANYAN_TOPO_DUMP_FILE", layoutFile.c_str(), 1);
  }
  std::vector<Variant> variants = openVariants(job, args, topoFile, notes);
  const int n = job.size;
  std::FILE* out = nullptr;
  if (job.rank == 0) {
    if (!args.out.empty() && (out = std::fopen(args.out.c_str(), "w")) == nullptr) {
      throw Error(ErrorCode::System, fmt::format("cannot write {}", args.out));
    }
    std::string header = fmt::format("# banyan-algo-compare {} on {} ranks, {} rounds per size\n{}",
                                     tuning::collectiveName(args.collective), n, args.repeats, notes);
    if (!topoFile.empty()) {
      const tuning::Selector selector(topology::load(topoFile), {});
      for (const std::size_t sweep : args.sizes) {
        const bench::SizePlan plan = planFor(args, sweep, n);
        const std::size_t perCall = plan.callCount * sizeof(float);  // the bytes choose() counts
        const tuning::Choice choice = selector.choose(args.collective, perCall);
        header += fmt::format("# pick {} {} {}\n", plan.bytes, tuning::toString(choice.algorithm), choice.why);
      }
    }
    header += "# collective bytes variant median_us min_us max_us busbw_GBps\n";
    std::fputs(header.c_str(), stdout);
    if (out) std::fputs(header.c_str(), out);
  }
  std::vector<std::pair<std::size_t, std::string>> fastest;  // per size: choose()'s bytes, fastest forced
  for (const std::size_t sweep : args.sizes) {
    const bench::SizePlan plan = planFor(args, sweep, n);
    std::vector<float> send(std::max<std::size_t>(plan.sendCount, 1), 1.0f);
    std::vector<float> recv(std::max<std::size_t>(plan.recvCount, 1), 0.0f);
    const int calls = static_cast<int>(
        std::clamp<std::size_t>((std::size_t{16} << 20) / std::max<std::size_t>(plan.bytes, 1), 1, 1000));
    const std::string loadBefore = loadAverage();
    for (Variant& v : variants) timeBatch(*v.comm, args, send, recv, plan.callCount, 1);  // warm: connections, plans
    std::vector<std::vector<double>> times(variants.size());
    for (int round = 0; round < args.repeats; ++round) {
      for (std::size_t k = 0; k < variants.size(); ++k) {
        const std::size_t i = (k + static_cast<std::size_t>(round)) % variants.size();
        times[i].push_back(timeBatch(*variants[i].comm, args, send, recv, plan.callCount, calls));
      }
    }
    if (job.rank != 0) continue;
    std::string lines = fmt::format("# load {} -> {}\n", loadBefore, loadAverage());
    double best = 0;
    std::string bestName;
    for (std::size_t i = 0; i < variants.size(); ++i) {
      const double us = median(times[i]);
      if (variants[i].name.rfind("auto", 0) != 0 && (bestName.empty() || us < best))
        best = us, bestName = variants[i].name;
      const double busbw =
          bench::algorithmBandwidth(plan.bytes, us) * bench::busBandwidthFactor(args.benchCollective, n);
      lines += fmt::format("{} {} {} {:.2f} {:.2f} {:.2f} {:.6g}\n", tuning::collectiveName(args.collective),
                           plan.bytes, variants[i].name, us, *std::min_element(times[i].begin(), times[i].end()),
                           *std::max_element(times[i].begin(), times[i].end()), busbw);
    }
    const std::size_t perCall = plan.callCount * sizeof(float);
    if (!bestName.empty() && (fastest.empty() || fastest.back().first < perCall))
      fastest.emplace_back(perCall, bestName);
    std::fputs(lines.c_str(), stdout);
    std::fflush(stdout);
    if (out) {
      std::fputs(lines.c_str(), out);
      std::fflush(out);
    }
  }
  if (out) std::fclose(out);
  if (job.rank == 0 && !args.tuneOut.empty()) {
    const auto [hosts, per] = tuning::layoutOf(topology::load(layoutFile));
    if (layoutFile != topoFile) std::remove(layoutFile.c_str());
    writeTable(args, n, fastest, tuning::layoutName(hosts, per));
  }
  return 0;
}

Args parse(int argc, char** argv) {
  Args args;
  if (argc < 2)
    throw Error(ErrorCode::InvalidUsage,
                "usage: banyan-algo-compare COLLECTIVE [-np N] [--sizes LIST] [--repeats R] [--out FILE]");
  const std::string name = argv[1];
  const auto collective = tuning::collectiveFromName(name);
  if (name == "allreduce") {
    args.benchCollective = bench::Collective::allreduce;
  } else if (name == "allgather") {
    args.benchCollective = bench::Collective::allgather;
  } else if (name == "reduce_scatter") {
    args.benchCollective = bench::Collective::reduce_scatter;
  } else if (name == "broadcast") {
    args.benchCollective = bench::Collective::broadcast;
  } else {
    throw Error(ErrorCode::InvalidUsage,
                fmt::format("unknown collective '{}' (allreduce, allgather, reduce_scatter, broadcast)", name));
  }
  args.collective = *collective;
  for (std::size_t s = 8; s <= (std::size_t{64} << 20); s *= 4) args.sizes.push_back(s);
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw Error(ErrorCode::InvalidUsage, fmt::format("{} needs a value", flag));
    const std::string value = argv[++i];
    if (flag == "-np") {
      args.ranks = std::stoi(value);
    } else if (flag == "--repeats") {
      args.repeats = std::stoi(value);
    } else if (flag == "--out") {
      args.out = value;
    } else if (flag == "--tune-out") {
      args.tuneOut = value;
    } else if (flag == "--table") {
      args.table = value;
    } else if (flag == "--sizes") {
      args.sizes.clear();
      for (std::size_t from = 0; from < value.size();) {
        const std::size_t comma = std::min(value.find(',', from), value.size());
        args.sizes.push_back(config::parseBytes(value.substr(from, comma - from), "--sizes"));
        from = comma + 1;
      }
    } else {
      throw Error(ErrorCode::InvalidUsage, fmt::format("unknown flag '{}' (see tools/banyan_algo_compare.cpp)", flag));
    }
  }
  if (args.repeats < 1 || args.sizes.empty() || args.ranks < 0 || args.ranks == 1) {
    throw Error(ErrorCode::InvalidUsage, "--repeats must be at least 1, --sizes non-empty, -np at least 2");
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banyan-algo-compare: %s\n", e.what());
    return 2;
  }
  const auto body = [&](int) {
    const auto job = bootstrap::jobFromEnvironment();
    if (!job)
      throw Error(ErrorCode::InvalidUsage,
                  "no job in the environment: give -np N or set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT");
    return runRank(*job, args);
  };
  if (args.ranks == 0) {
    try {
      return body(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "banyan-algo-compare: %s\n", e.what());
      return 1;
    }
  }
  bootstrap::LaunchOptions options;
  options.bindToCores = true;
  options.deadline = std::chrono::hours(1);
  int status = 0;
  for (const auto& exit : bootstrap::launchLocal(args.ranks, body, options)) {
    if (!exit.ok()) {
      std::fprintf(stderr, "banyan-algo-compare: %s\n", exit.describe().c_str());
      status = 1;
    }
  }
  return status;
}
