// banyan-fault-trials: the fault-trial measurement of "never hang" (bench/faults.sh).
//
//   banyan-fault-trials [--kills N] [--stops N] [--ranks R]
//                       [--transports tcp,shm-messages,shm,ofi-tcp,ofi-shm]
//                       [--seed S] [--timeout-ms T] [--json FILE]
//
// Each trial is the one of the fault-injection test (tests/support/fault_trial.hpp, which says
// what each survivor must report): R local ranks loop over mixed collectives and one, chosen at
// random, is SIGKILLed or SIGSTOPped by a thread of its own 0-300 ms into the loop. Trial i runs
// over transport i mod (number of transports). A survivor still running 30 s into the loop
// counts as a hang (as does one the launcher has to kill). A trial whose job did not even start
// (joining or the start barrier failed: there was no fault yet) is listed and counted apart.
// The tool prints, per transport and fault kind, the trials, hangs, wrong or missing error
// reports, and the time from the fault to each survivor's error (median and max), and exits 1
// if any hang or wrong report was seen. Survivors share one mapping of results with the tool
// (set up before the fork), and the victim writes the moment of its fault there, so every
// survivor's delay counts from the real fault on the one system-wide monotonic clock.

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>

#include "bootstrap/local_launcher.hpp"
#include "tests/support/fault_trial.hpp"

#include <fmt/format.h>

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
#include <vector>

namespace {

using namespace banyan;
using Clock = std::chrono::steady_clock;

constexpr int kMaxRanks = 16;
constexpr std::size_t kTextBytes = 1024;

// SetupFailed: the job did not start (no fault yet; test::faults::Outcome::setupFailed).
enum class Outcome : int { None = 0, Right = 1, Wrong = 2, NoError = 3, SetupFailed = 4 };

// One survivor's report, written in the shared mapping.
struct Report {
  std::atomic<int> outcome;
  std::atomic<int> namesVictim;  // judged on the whole text; `text` may be cut short
  std::int64_t detectedNs;       // error time minus fault time
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

struct TrialResult {
  std::string transport;
  bool stop = false;
  int victim = 0;
  int delayUs = 0;
  int hangs = 0;
  int wrong = 0;
  int named = 0;             // survivors whose error names the victim
  bool didNotStart = false;  // a survivor's job failed before the fault: nothing to judge
  std::vector<double> delaysMs;
  std::vector<std::string> problems;
};

TrialResult runTrial(const Settings& settings, Shared* shared, const std::string& transport, bool stop,
                     std::mt19937& random) {
  test::faults::Plan plan;
  plan.ranks = settings.ranks;
  plan.stop = stop;
  plan.timeout = stop ? std::chrono::milliseconds(settings.timeoutMs) : std::chrono::milliseconds(60000);
  plan.loopFor = std::chrono::seconds(30);
  test::faults::drawVictim(plan, random);
  TrialResult result;
  result.transport = transport;
  result.stop = stop;
  result.victim = plan.victim;
  result.delayUs = static_cast<int>(plan.delay.count());
  std::memset(static_cast<void*>(shared), 0, sizeof(Shared));

  bootstrap::LaunchOptions options;
  environmentFor(transport, options);
  const int victim = plan.victim;
  const std::string named = test::faults::victimNamed(transport, victim);
  test::faults::Hooks hooks;
  hooks.atFault = [shared] { shared->faultNs.store(nowNs()); };
  // A zero means the victim's store was not yet visible: take the planned moment.
  hooks.faultMoment = [shared](Clock::time_point planned) {
    const std::int64_t ns = shared->faultNs.load();
    return ns == 0 ? planned : Clock::time_point(std::chrono::nanoseconds(ns));
  };

  const auto exits = bootstrap::launchLocal(
      settings.ranks,
      [&](int rank) {
        Report& report = shared->reports[rank];
        const auto outcome = test::faults::runRank(plan, named, hooks);
        if (outcome.setupFailed) {
          std::snprintf(report.text, kTextBytes, "%s", outcome.text.c_str());
          report.outcome.store(static_cast<int>(Outcome::SetupFailed));
          return 1;
        }
        if (!outcome.errored) {
          report.outcome.store(static_cast<int>(Outcome::NoError));
          return 1;
        }
        report.detectedNs = std::chrono::duration_cast<std::chrono::nanoseconds>(outcome.detected).count();
        std::snprintf(report.text, kTextBytes, "%s", outcome.text.c_str());
        report.namesVictim.store(outcome.namesVictim ? 1 : 0);
        report.outcome.store(static_cast<int>(outcome.right ? Outcome::Right : Outcome::Wrong));
        return outcome.right ? 0 : 1;
      },
      test::faults::launchOptions(plan, options));

  for (const auto& exit : exits) {
    if (exit.rank == victim) continue;
    const Report& report = shared->reports[exit.rank];
    const auto outcome = static_cast<Outcome>(report.outcome.load());
    if (outcome == Outcome::SetupFailed) {
      result.didNotStart = true;
      result.problems.push_back(fmt::format("rank {}: the job did not start: {}", exit.rank, report.text));
    }
  }
  // Counted apart, never as a right report: the fault did not happen in a running job.
  if (result.didNotStart) return result;
  std::vector<std::string> texts;
  for (const auto& exit : exits) {
    if (exit.rank == victim) continue;
    const Report& report = shared->reports[exit.rank];
    const auto outcome = static_cast<Outcome>(report.outcome.load());
    texts.push_back(fmt::format("rank {}: {}", exit.rank, report.text));
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
    result.problems.push_back(fmt::format("no survivor named rank {} ({})", victim, fmt::join(texts, " | ")));
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
      throw std::invalid_argument(
          fmt::format("unknown flag '{}' (see the header of tools/banyan_fault_trials.cpp)", flag));
    }
  }
  if (s.ranks < 3 || s.ranks > kMaxRanks)
    throw std::invalid_argument(fmt::format("--ranks must be 3 to {}", kMaxRanks));
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
  auto* shared =
      static_cast<Shared*>(mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
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
    std::printf("trial %3d: %-4s %-12s victim %d at %6.1f ms: %s\n", i + 1, stop ? "stop" : "kill", transport.c_str(),
                r.victim, r.delayUs / 1000.0,
                r.problems.empty() ? fmt::format("ok, errors after {:.0f}-{:.0f} ms", percentile(r.delaysMs, 0),
                                                 percentile(r.delaysMs, 1))
                                         .c_str()
                                   : fmt::format("{}", fmt::join(r.problems, "; ")).c_str());
    std::fflush(stdout);
  }

  // The table: per (fault, transport).
  struct Row {
    int trials = 0, didNotStart = 0, hangs = 0, wrong = 0;
    std::vector<double> delays;
  };
  std::map<std::pair<std::string, std::string>, Row> rows;
  for (const auto& r : results) {
    for (const std::string& transport : {r.transport, std::string("all")}) {
      Row& row = rows[{r.stop ? "stop" : "kill", transport}];
      ++row.trials;
      row.didNotStart += r.didNotStart ? 1 : 0;
      row.hangs += r.hangs;
      row.wrong += r.wrong;
      row.delays.insert(row.delays.end(), r.delaysMs.begin(), r.delaysMs.end());
    }
  }
  std::printf(
      "\n| fault | transport | trials | did not start | survivors' reports | hangs | wrong or missing reports | "
      "fault to error, median (ms) | max (ms) |\n|---|---|---|---|---|---|---|---|---|\n");
  int bad = 0;
  for (const auto& [key, row] : rows) {
    std::printf("| %s | %s | %d | %d | %zu | %d | %d | %.0f | %.0f |\n", key.first.c_str(), key.second.c_str(),
                row.trials, row.didNotStart, row.delays.size(), row.hangs, row.wrong, percentile(row.delays, 0.5),
                percentile(row.delays, 1));
    if (key.second == "all") bad += row.hangs + row.wrong;
  }
  std::printf("\n%d ranks; stop trials use BANYAN_TIMEOUT=%d ms, kill trials 60 s; seed %u\n", settings.ranks,
              settings.timeoutMs, settings.seed);
  if (!settings.json.empty()) {
    if (FILE* f = std::fopen(settings.json.c_str(), "w")) {
      std::fprintf(f, "[\n");
      for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        std::fprintf(
            f,
            "  {\"fault\": \"%s\", \"transport\": \"%s\", \"victim\": %d, \"delay_us\": %d, \"did_not_start\": %s, "
            "\"hangs\": %d, \"wrong\": %d, \"detected_ms\": [%s]}%s\n",
            r.stop ? "stop" : "kill", r.transport.c_str(), r.victim, r.delayUs, r.didNotStart ? "true" : "false",
            r.hangs, r.wrong, fmt::format("{:.1f}", fmt::join(r.delaysMs, ", ")).c_str(),
            i + 1 < results.size() ? "," : "");
      }
      std::fprintf(f, "]\n");
      std::fclose(f);
    }
  }
  return bad == 0 ? 0 : 1;
}
