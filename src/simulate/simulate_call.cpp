#include "simulate/simulate_call.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "algorithms/slicing.hpp"
#include "tuning/algorithm_registry.hpp"

namespace banyan::simulate {

namespace {

using algorithms::Schedule;
using algorithms::Step;
using algorithms::StepKind;

bool powerOfTwo(int n) { return n > 0 && (n & (n - 1)) == 0; }

// Rank p's image when host 0 is relabelled host h.
int mapped(Symmetry symmetry, int p, int shift, int n) {
  return symmetry == Symmetry::Rotation ? (p + shift) % n : p ^ shift;
}

bool noOpCopy(const Step& s) {
  return s.kind == StepKind::Copy && s.dst.buffer == s.a.buffer && s.dst.offset == s.a.offset &&
         s.dst.count == s.a.count;
}

// Whether `other` (a rank of host h) is `rep` (the same rank of host 0) with peers relabelled.
bool sameUpToHosts(const Schedule& rep, const Schedule& other, Symmetry symmetry, int shift, int n) {
  if (rep.steps.size() != other.steps.size()) return false;
  for (std::size_t i = 0; i < rep.steps.size(); ++i) {
    const Step& a = rep.steps[i];
    const Step& b = other.steps[i];
    if (a.kind != b.kind || a.depCount != b.depCount || noOpCopy(a) != noOpCopy(b)) return false;
    if (!std::equal(a.deps.begin(), a.deps.begin() + a.depCount, b.deps.begin())) return false;
    const bool send = a.kind == StepKind::Send;
    if ((send ? a.a.count : a.dst.count) != (send ? b.a.count : b.dst.count)) return false;
    if ((send || a.kind == StepKind::Recv) && b.peer != mapped(symmetry, a.peer, shift, n)) return false;
  }
  return true;
}

// Hosts other than 0 to compare with host 0: the second, the last, and spread between.
std::vector<int> sampledHosts(int hosts, int wanted) {
  std::vector<int> picked;
  const auto take = [&](int h) {
    if (h > 0 && h < hosts && std::find(picked.begin(), picked.end(), h) == picked.end()) picked.push_back(h);
  };
  take(1);
  take(hosts - 1);
  for (int i = 1; static_cast<int>(picked.size()) < wanted && i < wanted * 2; ++i) {
    take(static_cast<int>(static_cast<long long>(hosts) * i / wanted));
  }
  return picked;
}

Outcome finish(EventSimulation& simulation, Symmetry symmetry) {
  const SimulationResult result = simulation.run();
  Outcome outcome;
  outcome.symmetry = symmetry;
  outcome.simulatedRanks = simulation.simulatedRanks();
  outcome.steps = result.steps;
  if (!result.error.empty()) {
    outcome.why = result.error;
    return outcome;
  }
  outcome.ran = true;
  outcome.us = result.us;
  return outcome;
}

}  // namespace

Outcome simulateCall(const Cluster& cluster, const Call& call, const SimulateOptions& options) {
  Outcome outcome;
  if (std::string why = invalidReason(cluster); !why.empty()) {
    outcome.why = why;
    return outcome;
  }
  const int n = cluster.size();
  tuning::ScheduleRequest request;
  request.collective = call.collective;
  request.size = n;
  request.root = call.root;
  request.count = call.count;
  request.slice = algorithms::sliceElements(call.collective, n, call.count, call.elementSize, call.maxSliceBytes);
  request.hostOfRank.resize(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) request.hostOfRank[static_cast<std::size_t>(r)] = cluster.hostOf(r);
  if (std::string why = tuning::scheduleUnfit(call.algorithm, request); !why.empty()) {
    outcome.why = why;
    return outcome;
  }
  const auto generate = [&](int rank) {
    request.rank = rank;
    return tuning::generateSchedule(call.algorithm, request);
  };

  // Host 0's schedules: the stand-ins under a symmetry, and the estimate of a whole run.
  const auto began = std::chrono::steady_clock::now();
  std::vector<Schedule> host0;
  std::size_t host0Steps = 0;
  for (int r = 0; r < cluster.ranksPerHost; ++r) {
    host0.push_back(generate(r));
    host0Steps += host0.back().steps.size();
  }
  const double host0Seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  // One machine's cores shared by every host: no host stands for the others.
  if (options.useSymmetry && cluster.hosts > 1 && cluster.machineCores == 0 && !isRooted(call.collective)) {
    const std::vector<int> hosts = sampledHosts(cluster.hosts, options.sampledHosts);
    for (Symmetry symmetry : {Symmetry::Rotation, Symmetry::Xor}) {
      if (symmetry == Symmetry::Xor && !(powerOfTwo(cluster.hosts) && powerOfTwo(cluster.ranksPerHost))) continue;
      bool holds = true;
      for (std::size_t i = 0; holds && i < hosts.size(); ++i) {
        const int shift = hosts[i] * cluster.ranksPerHost;
        for (int r = 0; holds && r < cluster.ranksPerHost; ++r) {
          const int other = mapped(symmetry, r, shift, n);
          holds = sameUpToHosts(host0[static_cast<std::size_t>(r)], generate(other), symmetry, shift, n);
        }
      }
      if (!holds) continue;
      EventSimulation simulation(cluster, symmetry, call.elementSize, call.calls);
      for (const Schedule& schedule : host0) simulation.add(schedule);
      return finish(simulation, symmetry);
    }
  }

  // Every rank, each schedule handed over as it is made (the simulation keeps a compact copy).
  const double estimatedSteps = static_cast<double>(host0Steps) * cluster.hosts * std::max(1, call.calls);
  if (estimatedSteps > static_cast<double>(options.maxSteps)) {
    outcome.why = fmt::format(
        "over the budget: about {:.3g} steps (host 0's times the hosts) against --max-steps {}, "
        "and no host symmetry to run one host alone",
        estimatedSteps, options.maxSteps);
    return outcome;
  }
  if (host0Seconds * cluster.hosts > options.maxGenerateSeconds) {
    outcome.why = fmt::format(
        "over the budget: generating every rank's schedule would take about {:.0f} s (host 0's "
        "took {:.2f} s), and no host symmetry to run one host alone",
        host0Seconds * cluster.hosts, host0Seconds);
    return outcome;
  }
  EventSimulation simulation(cluster, Symmetry::None, call.elementSize, call.calls);
  std::size_t steps = 0;
  for (int r = 0; r < n; ++r) {
    const Schedule schedule = r < cluster.ranksPerHost ? std::move(host0[static_cast<std::size_t>(r)]) : generate(r);
    steps += schedule.steps.size() * static_cast<std::size_t>(std::max(1, call.calls));
    if (steps > options.maxSteps) {
      outcome.why = fmt::format(
          "over the budget: more than {} steps in the first {} of {} ranks, and no host "
          "symmetry to run one host alone",
          options.maxSteps, r + 1, n);
      return outcome;
    }
    simulation.add(schedule);
  }
  return finish(simulation, Symmetry::None);
}

}  // namespace banyan::simulate
