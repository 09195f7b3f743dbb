// banyan-fault-trials: the fault-trial measurement of "never hang" (bench/faults.sh).
//
//   banyan-fault-trials [--kills N] [--stops N] [--ranks R]
//                       [--transports tcp,shm-messages,shm,ofi-tcp,ofi-shm]
//                       [--seed S] [--timeout-ms T] [--json FILE]
//
// Each trial launches R local ranks that loop over mixed collectives; one rank, chosen at
// random, is SIGKILLed or SIGSTOPped by a thread of its own at a random moment (0-300 ms into
// the loop), so the fault lands anywhere: between calls, mid-transfer, inside a reduction.
// Trial i runs over transport i mod (number of transports). Every survivor must end with:
//   after a kill: a Remote error that names the victim;
//   after a stop: a Timeout (or a Remote error carrying a neighbour's timeout account).
// A survivor still running 30 s after the fault counts as a hang (the launcher kills it).
// The tool prints, per transport and fault kind, the trials, hangs, wrong or missing error
// reports, and the time from the fault to each survivor's error (median and max), and exits 1
// if any hang or wrong report was seen. Survivors share one mapping of results with the tool
// (set up before the fork), and the victim writes the moment of its fault there, so every
// survivor's delay counts from the real fault on the one system-wide monotonic clock.

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>

#include "bootstrap/local_launcher.hpp"

#include <fmt/format.h>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace banyan;
using Clock = std::chrono::steady_clock;

constexpr int kMaxRanks = 16;
constexpr std::size_t kTextBytes = 240;

enum class Outcome : int { None = 0, Right = 1, Wrong = 2, NoError = 3 };

// One survivor's report, written in the shared mapping.
struct Report {
  std::atomic<int> outcome;
  std::atomic<int> namesVictim;  // judged on the whole text; `text` may be cut short
  std::int64_t detectedNs;  // error time minus fault time
  char text[kTextBytes];
};

struct Shared {
  std::atomic<std::int64_t> faultNs;  // steady_clock of the fault, set by the victim
  Report reports[kMaxRanks];
};

struct Settings {
  int kills = 100;
  int stops = 50;
  int ranks = 4;
  std::vector<std::string> transports{"tcp", "shm-messages", "shm"};
  unsigned seed = 1;
  int timeoutMs = 2000;  // BANYAN_TIMEOUT in stop trials
  std::string json;
};

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void environmentFor(const std::string& transport, bootstrap::LaunchOptions& options) {
  // libfabric: its tcp;ofi_rxm and shm providers (BANYAN_TRANSPORT=ofi).
  if (transport == "ofi-tcp" || transport == "ofi-shm") {
    options.environment["BANYAN_TRANSPORT"] = "ofi";
    options.environment["BANYAN_OFI_PROVIDER"] = transport == "ofi-tcp" ? "tcp;ofi_rxm" : "shm";
    return;
  }
  if (transport != "tcp" && transport != "shm" && transport != "shm-messages") {
    throw std::invalid_argument(
        fmt::format("--transports: unknown transport '{}' (tcp, shm-messages, shm, ofi-tcp, ofi-shm)", transport));
  }
  options.environment["BANYAN_TRANSPORT"] = transport == "tcp" ? "tcp" : "shm";
  options.environment["BANYAN_SHM_COLLECTIVES"] = transport == "shm" ? "1" : "0";
}

// One round of mixed collectives, small and large (as tests/multiproc/test_fault_injection.cpp).
void round(Communicator& comm, std::vector<float>& big, std::vector<float>& small, std::vector<float>& gathered) {
  const int n = comm.size();
  comm.allreduce(small.data(), small.size(), DataType::f32, ReduceOp::sum);
  comm.allreduce(big.data(), big.size(), DataType::f32, ReduceOp::max);
  comm.allgather(small.data(), gathered.data(), small.size(), DataType::f32);
  comm.broadcast(big.data(), big.size() / 4, DataType::f32, 1 % n);
  comm.reduceScatter(gathered.data(), small.data(), small.size(), DataType::f32, ReduceOp::sum);
  comm.alltoall(gathered.data(), big.data(), small.size() / static_cast<std::size_t>(n), DataType::f32);
  comm.barrier();
}

struct TrialResult {
  std::string transport;
  bool stop = false;
  int victim = 0;
  int delayUs = 0;
  int hangs = 0;
  int wrong = 0;
  int named = 0;  // survivors whose error names the victim
  std::vector<double> delaysMs;
  std::vector<std::string> problems;
};

TrialResult runTrial(const Settings& settings, Shared* shared, const std::string& transport, bool stop,
                     std::mt19937& random) {
  TrialResult result;
  result.transport = transport;
  result.stop = stop;
  result.victim = static_cast<int>(random() % static_cast<unsigned>(settings.ranks));
  result.delayUs = static_cast<int>(random() % 300000);
  std::memset(static_cast<void*>(shared), 0, sizeof(Shared));

  bootstrap::LaunchOptions options;
  environmentFor(transport, options);
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_TIMEOUT"] = stop ? fmt::format("{}ms", settings.timeoutMs) : "60s";
  options.deadline = std::chrono::seconds(45);
  const int victim = result.victim;
  const auto delay = std::chrono::microseconds(result.delayUs);
  // How the victim is named in errors, by the transport that reaches it.
  const std::string named = transport == "tcp"             ? fmt::format("rank {} at", victim)
                            : transport.rfind("ofi-", 0) == 0 ? fmt::format("rank {} (ofi", victim)
                                                             : fmt::format("rank {} (pid", victim);
  const auto stopWait = std::chrono::milliseconds(2 * settings.timeoutMs + 1000);

  const auto exits = bootstrap::launchLocal(settings.ranks, [&](int) {
    auto comm = Communicator::fromEnvironment();
    const int rank = comm.rank();
    std::vector<std::int64_t> pids(static_cast<std::size_t>(comm.size()));
    const std::int64_t mine = getpid();
    comm.allgather(&mine, pids.data(), 1, DataType::i64);
    std::vector<float> big(1 << 18, 1.0f), small(4096, 1.0f), gathered(small.size() * static_cast<std::size_t>(comm.size()), 1.0f);
    comm.barrier();
    const auto start = Clock::now();
    if (rank == victim) {
      std::thread([&] {
        std::this_thread::sleep_until(start + delay);
        shared->faultNs.store(nowNs());
        kill(getpid(), stop ? SIGSTOP : SIGKILL);
      }).detach();
    }
    Report& report = shared->reports[rank];
    try {
      while (Clock::now() - start < std::chrono::seconds(30)) round(comm, big, small, gathered);
      report.outcome.store(static_cast<int>(Outcome::NoError));
      return 1;
    } catch (const Error& e) {
      const std::int64_t at = nowNs();
      std::int64_t fault = shared->faultNs.load();
      // A survivor can only fail after the fault; a zero here means the victim's store was not
      // yet visible, so take the planned moment.
      if (fault == 0) fault = std::chrono::duration_cast<std::chrono::nanoseconds>((start + delay).time_since_epoch()).count();
      report.detectedNs = at - fault;
      std::snprintf(report.text, kTextBytes, "%s", e.what());
      const std::string text = e.what();
      bool right;
      if (stop) {
        right = (e.code() == ErrorCode::Timeout || e.code() == ErrorCode::Remote) &&
                text.find("BANYAN_TIMEOUT") != std::string::npos;
      } else {
        right = e.code() == ErrorCode::Remote && text.find(named) != std::string::npos;
      }
      report.namesVictim.store(text.find(named) != std::string::npos ? 1 : 0);
      report.outcome.store(static_cast<int>(right ? Outcome::Right : Outcome::Wrong));
      if (stop) {
        // The lowest survivor ends the stopped rank once every survivor has had time for its
        // own deadline (or they would see a death instead of a timeout).
        const int lowest = victim == 0 ? 1 : 0;
        if (rank == lowest) {
          std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(fault)) + stopWait);
          kill(static_cast<pid_t>(pids[static_cast<std::size_t>(victim)]), SIGKILL);
        }
      }
      return right ? 0 : 1;
    }
  }, options);

  for (const auto& exit : exits) {
    if (exit.rank == victim) continue;
    const Report& report = shared->reports[exit.rank];
    const auto outcome = static_cast<Outcome>(report.outcome.load());
    if (exit.killedAtDeadline || outcome == Outcome::NoError) {
      ++result.hangs;
      result.problems.push_back(fmt::format("rank {}: no error ({})", exit.rank, exit.describe()));
      continue;
    }
    if (outcome != Outcome::Right) {
      ++result.wrong;
      result.problems.push_back(outcome == Outcome::None
                                    ? fmt::format("rank {}: no report ({})", exit.rank, exit.describe())
                                    : fmt::format("rank {}: wrong error: {}", exit.rank, report.text));
      continue;
    }
    if (report.namesVictim.load() != 0) ++result.named;
    result.delaysMs.push_back(static_cast<double>(report.detectedNs) / 1e6);
  }
  // After a stop, the neighbours' timeouts travel as accounts; at least one survivor must name
  // the stopped rank first-hand, or nobody learns which rank it was.
  if (stop && result.hangs == 0 && result.wrong == 0 && result.named == 0) {
    ++result.wrong;
    result.problems.push_back(fmt::format("no survivor named rank {}", victim));
  }
  return result;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(fmt::format("{} needs a value", flag));
      return argv[++i];
    };
    if (flag == "--kills") {
      s.kills = std::stoi(value());
    } else if (flag == "--stops") {
      s.stops = std::stoi(value());
    } else if (flag == "--ranks") {
      s.ranks = std::stoi(value());
    } else if (flag == "--seed") {
      s.seed = static_cast<unsigned>(std::stoul(value()));
    } else if (flag == "--timeout-ms") {
      s.timeoutMs = std::stoi(value());
    } else if (flag == "--json") {
      s.json = value();
    } else if (flag == "--transports") {
      s.transports.clear();
      std::string list = value();
      std::size_t from = 0;
      while (from <= list.size()) {
        const std::size_t comma = std::min(list.find(',', from), list.size());
        if (comma > from) s.transports.push_back(list.substr(from, comma - from));
        from = comma + 1;
      }
    } else {
      throw std::invalid_argument(fmt::format("unknown flag '{}' (see the header of tools/banyan_fault_trials.cpp)", flag));
    }
  }
  if (s.ranks < 3 || s.ranks > kMaxRanks) throw std::invalid_argument(fmt::format("--ranks must be 3 to {}", kMaxRanks));
  if (s.kills < 0 || s.stops < 0 || s.transports.empty() || s.timeoutMs < 100) {
    throw std::invalid_argument("--kills/--stops must be >= 0, --transports non-empty, --timeout-ms >= 100");
  }
  for (const auto& t : s.transports) {
    bootstrap::LaunchOptions probe;
    environmentFor(t, probe);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  try {
    settings = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banyan-fault-trials: %s\n", e.what());
    return 2;
  }
  auto* shared = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (shared == MAP_FAILED) {
    std::perror("banyan-fault-trials: mmap");
    return 2;
  }
  std::mt19937 random(settings.seed);
  std::vector<TrialResult> results;
  const int total = settings.kills + settings.stops;
  for (int i = 0; i < total; ++i) {
    const bool stop = i >= settings.kills;
    const int index = stop ? i - settings.kills : i;
    const std::string& transport = settings.transports[static_cast<std::size_t>(index) % settings.transports.size()];
    results.push_back(runTrial(settings, shared, transport, stop, random));
    const auto& r = results.back();
    std::printf("trial %3d: %-4s %-12s victim %d at %6.1f ms: %s\n", i + 1, stop ? "stop" : "kill",
                transport.c_str(), r.victim, r.delayUs / 1000.0,
                r.problems.empty() ? fmt::format("ok, errors after {:.0f}-{:.0f} ms", percentile(r.delaysMs, 0),
                                                 percentile(r.delaysMs, 1)).c_str()
                                   : fmt::format("{}", fmt::join(r.problems, "; ")).c_str());
    std::fflush(stdout);
  }

  // The table: per (fault, transport).
  struct Row {
    int trials = 0, hangs = 0, wrong = 0;
    std::vector<double> delays;
  };
  std::map<std::pair<std::string, std::string>, Row> rows;
  for (const auto& r : results) {
    for (const std::string& transport : {r.transport, std::string("all")}) {
      Row& row = rows[{r.stop ? "stop" : "kill", transport}];
      ++row.trials;
      row.hangs += r.hangs;
      row.wrong += r.wrong;
      row.delays.insert(row.delays.end(), r.delaysMs.begin(), r.delaysMs.end());
    }
  }
  std::printf("\n| fault | transport | trials | survivors' reports | hangs | wrong or missing reports | "
              "fault to error, median (ms) | max (ms) |\n|---|---|---|---|---|---|---|---|\n");
  int bad = 0;
  for (const auto& [key, row] : rows) {
    std::printf("| %s | %s | %d | %zu | %d | %d | %.0f | %.0f |\n", key.first.c_str(), key.second.c_str(), row.trials,
                row.delays.size(), row.hangs, row.wrong, percentile(row.delays, 0.5), percentile(row.delays, 1));
    if (key.second == "all") bad += row.hangs + row.wrong;
  }
  std::printf("\n%d ranks; stop trials use BANYAN_TIMEOUT=%d ms, kill trials 60 s; seed %u\n", settings.ranks,
              settings.timeoutMs, settings.seed);
  if (!settings.json.empty()) {
    if (FILE* f = std::fopen(settings.json.c_str(), "w")) {
      std::fprintf(f, "[\n");
      for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        std::fprintf(f, "  {\"fault\": \"%s\", \"transport\": \"%s\", \"victim\": %d, \"delay_us\": %d, \"hangs\": %d, "
                        "\"wrong\": %d, \"detected_ms\": [%s]}%s\n",
                     r.stop ? "stop" : "kill", r.transport.c_str(), r.victim, r.delayUs, r.hangs, r.wrong,
                     fmt::format("{:.1f}", fmt::join(r.delaysMs, ", ")).c_str(), i + 1 < results.size() ? "," : "");
      }
      std::fprintf(f, "]\n");
      std::fclose(f);
    }
  }
  return bad == 0 ? 0 : 1;
}
