// Ties each cost formula to the schedule it prices: for every registry row with a formula, for
// several layouts and sizes, every rank's schedule is built and priced by walking its steps
// over the same link figures the formula reads, and the two must agree within a stated bound.
//
// The walk (a discrete-event simulation, deterministic):
//   - A step is ready when every step it depends on has finished (time 0 without deps).
//   - Reduce and Copy run on their rank's one core, one at a time, for bytes / memory bandwidth
//     (a Reduce counts the bytes it writes; a Copy onto itself is free).
//   - A message (the k-th Send from a to b matches the k-th Recv on b from a) needs two ports:
//     the sender's way out and the receiver's way in. Between ranks of one host these are the
//     ranks' own (intra figures); between hosts, the hosts' network interfaces, which all the
//     host's ranks share (inter figures). Sends to one peer start in step order, as the executor
//     posts them. The transfer starts once the Send is ready and both ports are free, holds
//     them for bytes / bandwidth, and arrives one latency after that; the Send finishes when the
//     bytes are out, the Recv when it is ready and the bytes have arrived (eager sends).
//   - Whatever is ready earliest is scheduled first (first come, first served on a port or a
//     core). The call's time is the last step's finish.
// This is the formulas' own model (cost_model.hpp: a round costs latency plus bytes over
// bandwidth, a host's interface is shared by the flows that leave it, reductions stream at the
// memory rate), but applied message by message instead of round by round, so it sees what a
// round-level formula rounds off: slices that overlap across steps, transfers that could run in
// parallel, ranks idle in a round. What it does not model is the oversubscribed host (more
// ranks than cores), which cost_model.cpp prices from measurements: these layouts say 0 cores
// (unknown), which turns that correction off.
//
// Slices are the communicator's (runtime/schedule_engine.cpp, sliceElements): a chunk (allreduce:
// the buffer over n; otherwise the buffer) in 4 slices of 64 KiB to 1 MiB; a 2-rank broadcast
// is one message. Data are f32, the root is rank 0 (the formulas price root 0).

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <tuple>
#include <vector>

#include "support/selection.hpp"
#include "topology/topology.hpp"
#include "tuning/algorithm_registry.hpp"
#include "tuning/cost_model.hpp"

namespace {

using banyan::Collective;
using banyan::algorithms::Schedule;
using banyan::algorithms::StepKind;
using banyan::tuning::Algorithm;
namespace topology = banyan::topology;
namespace tuning = banyan::tuning;

constexpr std::size_t kElement = sizeof(float);
constexpr double kUnknown = -1;

std::size_t sliceElements(Collective collective, int size, std::size_t count) {
  if (collective == Collective::Broadcast && size == 2) return std::max<std::size_t>(1, count);
  const std::size_t chunk = count * kElement / (collective == Collective::Allreduce ? size : 1);
  const std::size_t slice = std::min<std::size_t>(1 << 20, std::max<std::size_t>(64 << 10, chunk / 4));
  return std::max<std::size_t>(1, slice / kElement);
}

struct StepRef {
  int rank;
  std::size_t step;
};

// The walk described at the top. Returns the call's time in microseconds; fails the test on a
// schedule that cannot complete (unmatched messages, or a deadlock).
class Walk {
 public:
  Walk(const topology::Topology& t, std::vector<Schedule> schedules) : t_(t), schedules_(std::move(schedules)) {
    const std::size_t n = schedules_.size();
    finish_.resize(n);
    readyAt_.resize(n);
    waiting_.resize(n);
    dependents_.resize(n);
    arrival_.resize(n);
    match_.resize(n);
    rankPort_.assign(n, {0.0, 0.0});
    hostPort_.assign(static_cast<std::size_t>(t.hostCount()), {0.0, 0.0});
    core_.assign(n, 0.0);
    for (std::size_t r = 0; r < n; ++r) index(static_cast<int>(r));
    matchMessages();
  }

  double run() {
    for (std::size_t r = 0; r < schedules_.size(); ++r) {
      for (std::size_t i = 0; i < schedules_[r].steps.size(); ++i) {
        if (waiting_[r][i] == 0) becomeReady({static_cast<int>(r), i}, 0);
      }
    }
    double last = 0;
    while (!queue_.empty()) {
      const auto [time, rank, step] = queue_.top();
      queue_.pop();
      const double done = execute({rank, step}, time);
      if (done >= 0) last = std::max(last, done);
    }
    for (std::size_t r = 0; r < schedules_.size(); ++r) {
      for (std::size_t i = 0; i < finish_[r].size(); ++i) {
        INFO("rank " << r << " step " << i);
        REQUIRE(finish_[r][i] != kUnknown);
      }
    }
    return last;
  }

 private:
  using Ports = std::pair<double, double>;  // free again at: way out, way in

  const banyan::algorithms::Step& stepOf(StepRef s) const {
    return schedules_[static_cast<std::size_t>(s.rank)].steps[s.step];
  }

  void index(int rank) {
    const auto r = static_cast<std::size_t>(rank);
    const auto& steps = schedules_[r].steps;
    finish_[r].assign(steps.size(), kUnknown);
    readyAt_[r].assign(steps.size(), 0.0);
    arrival_[r].assign(steps.size(), kUnknown);
    match_[r].assign(steps.size(), {-1, 0});
    dependents_[r].resize(steps.size());
    waiting_[r].resize(steps.size());
    for (std::size_t i = 0; i < steps.size(); ++i) {
      waiting_[r][i] = steps[i].depCount;
      for (std::size_t d = 0; d < steps[i].depCount; ++d) dependents_[r][steps[i].deps[d]].push_back(i);
    }
  }

  // The k-th Send from a to b with the k-th Recv on b from a, of the same length.
  void matchMessages() {
    std::map<std::pair<int, int>, std::vector<std::size_t>> sends, recvs;
    for (std::size_t r = 0; r < schedules_.size(); ++r) {
      const auto& steps = schedules_[r].steps;
      for (std::size_t i = 0; i < steps.size(); ++i) {
        if (steps[i].kind == StepKind::Send) sends[{static_cast<int>(r), steps[i].peer}].push_back(i);
        if (steps[i].kind == StepKind::Recv) recvs[{steps[i].peer, static_cast<int>(r)}].push_back(i);
      }
    }
    REQUIRE(sends.size() == recvs.size());
    for (const auto& [pair, from] : sends) {
      const auto& into = recvs[pair];
      REQUIRE(from.size() == into.size());
      for (std::size_t k = 0; k < from.size(); ++k) {
        const StepRef send{pair.first, from[k]}, recv{pair.second, into[k]};
        REQUIRE(stepOf(send).a.count == stepOf(recv).dst.count);
        match_[static_cast<std::size_t>(send.rank)][send.step] = recv;
        match_[static_cast<std::size_t>(recv.rank)][recv.step] = send;
      }
      nextSend_[pair] = 0;
      sendOrder_[pair] = from;
    }
  }

  void push(StepRef s, double time) { queue_.emplace(time, s.rank, s.step); }

  void becomeReady(StepRef s, double time) {
    readyAt_[static_cast<std::size_t>(s.rank)][s.step] = time;
    if (stepOf(s).kind != StepKind::Recv) return push(s, time);
    const double arrived = arrival_[static_cast<std::size_t>(s.rank)][s.step];
    if (arrived != kUnknown) push(s, std::max(time, arrived));
  }

  void finish(StepRef s, double time) {
    const auto r = static_cast<std::size_t>(s.rank);
    finish_[r][s.step] = time;
    for (std::size_t next : dependents_[r][s.step]) {
      if (--waiting_[r][next] > 0) continue;
      double ready = 0;
      for (std::size_t d = 0; d < schedules_[r].steps[next].depCount; ++d) {
        ready = std::max(ready, finish_[r][schedules_[r].steps[next].deps[d]]);
      }
      becomeReady({s.rank, next}, ready);
    }
  }

  // Runs step `s` whose turn came at `time`; returns its finish, or -1 when it must wait.
  double execute(StepRef s, double time) {
    const auto& step = stepOf(s);
    const auto r = static_cast<std::size_t>(s.rank);
    if (step.kind == StepKind::Recv) {
      finish(s, time);
      return time;
    }
    if (step.kind == StepKind::Send) return transfer(s, time);
    const bool noOp = step.kind == StepKind::Copy && step.dst.buffer == step.a.buffer &&
                      step.dst.offset == step.a.offset && step.dst.count == step.a.count;
    const double start = noOp ? time : std::max(time, core_[r]);
    const double done = noOp ? time : start + static_cast<double>(step.dst.count * kElement) / t_.memory.bandwidthMBps;
    if (!noOp) core_[r] = done;
    finish(s, done);
    return done;
  }

  double transfer(StepRef s, double time) {
    const auto& step = stepOf(s);
    const std::pair<int, int> pair{s.rank, step.peer};
    std::size_t& next = nextSend_[pair];
    if (sendOrder_[pair][next] != s.step) {
      parked_[{s.rank, s.step}] = time;  // an earlier Send to this peer goes first
      return -1;
    }
    const bool local = t_.sameHost(s.rank, step.peer);
    const topology::LinkFigures& link = local ? t_.intra : t_.inter;
    Ports& out = local ? rankPort_[static_cast<std::size_t>(s.rank)] : hostPort_[host(s.rank)];
    Ports& in = local ? rankPort_[static_cast<std::size_t>(step.peer)] : hostPort_[host(step.peer)];
    const double busy = static_cast<double>(step.a.count * kElement) / link.bandwidthMBps;
    const double start = std::max(time, out.first);
    const double sent = start + busy;
    out.first = sent;
    const double landed = std::max(start, in.second) + busy;
    in.second = landed;
    const StepRef recv = match_[static_cast<std::size_t>(s.rank)][s.step];
    arrival_[static_cast<std::size_t>(recv.rank)][recv.step] = landed + link.latencyUs;
    if (waiting_[static_cast<std::size_t>(recv.rank)][recv.step] == 0 &&
        finish_[static_cast<std::size_t>(recv.rank)][recv.step] == kUnknown) {
      push(recv, std::max(readyAt_[static_cast<std::size_t>(recv.rank)][recv.step], landed + link.latencyUs));
    }
    finish(s, sent);
    if (++next < sendOrder_[pair].size()) {
      const StepRef following{s.rank, sendOrder_[pair][next]};
      if (auto it = parked_.find({following.rank, following.step}); it != parked_.end()) {
        push(following, std::max(it->second, start));
        parked_.erase(it);
      }
    }
    return sent;
  }

  std::size_t host(int rank) const { return static_cast<std::size_t>(t_.hostOfRank[static_cast<std::size_t>(rank)]); }

  const topology::Topology& t_;
  std::vector<Schedule> schedules_;
  std::vector<std::vector<double>> finish_, readyAt_, arrival_;
  std::vector<std::vector<int>> waiting_;
  std::vector<std::vector<std::vector<std::size_t>>> dependents_;
  std::vector<std::vector<StepRef>> match_;
  std::vector<Ports> rankPort_, hostPort_;
  std::vector<double> core_;
  std::map<std::pair<int, int>, std::size_t> nextSend_;
  std::map<std::pair<int, int>, std::vector<std::size_t>> sendOrder_;
  std::map<std::pair<int, std::size_t>, double> parked_;
  std::priority_queue<std::tuple<double, int, std::size_t>, std::vector<std::tuple<double, int, std::size_t>>,
                      std::greater<>>
      queue_;
};

// Every rank's schedule of `algorithm` for `collective` of `bytes` (as choose() counts them).
std::vector<Schedule> schedulesOf(const topology::Topology& t, Algorithm algorithm, Collective collective,
                                  std::size_t bytes) {
  std::vector<Schedule> all;
  const std::size_t count = std::max<std::size_t>(1, bytes / kElement);
  for (int rank = 0; rank < t.size; ++rank) {
    all.push_back(tuning::generateSchedule(
        algorithm, {collective, rank, t.size, 0, count, sliceElements(collective, t.size, count), t.hostOfRank}));
  }
  return all;
}

double walkUs(const topology::Topology& t, Algorithm algorithm, Collective collective, std::size_t bytes) {
  return Walk(t, schedulesOf(t, algorithm, collective, bytes)).run();
}

enum class Layouts { OneHost, OneRankPerHost, Mixed };

Layouts classOf(int hosts, int perHost) {
  return hosts == 1 ? Layouts::OneHost : perHost == 1 ? Layouts::OneRankPerHost : Layouts::Mixed;
}

// The formula must lie within kTolerance of the walk (the selector cannot tell candidates apart
// within 10% either: kPipelinedPreference), except where an entry below says why not and how
// far instead (formula / walk in [low, high], over the grid of the test). An entry is a known
// disagreement, recorded rather than fixed: the formulas' constants came from bench/topo.sh
// runs, and changing them changes which algorithm the selector picks.
constexpr double kTolerance = 0.10;

struct Departure {
  Algorithm algorithm;
  Collective collective;
  Layouts layouts;
  double low, high;
  const char* why;
};

// "Lockstep": a formula that prices rounds charges every round (ring step, chain hop) the
// latency of the slowest link class any transfer of the round uses; the schedules do not wait
// for a round, so a slice that crosses hosts once every few hops waits only for its own links.
// An upper bound, tight once bandwidth dominates.
const Departure kDepartures[] = {
    {Algorithm::Ring, Collective::Allreduce, Layouts::Mixed, 0.9, 2.6, "lockstep"},
    {Algorithm::Ring, Collective::Allgather, Layouts::Mixed, 0.9, 2.6, "lockstep"},
    {Algorithm::Ring, Collective::ReduceScatter, Layouts::Mixed, 0.9, 2.6, "lockstep"},
    {Algorithm::Ring, Collective::ReduceScatter, Layouts::OneHost, 0.7, 1.1,
     "the formula overlaps each step's reduction with the next slices' transfer even when a block is one slice, "
     "and then there is nothing to overlap"},
    {Algorithm::Chain, Collective::Broadcast, Layouts::Mixed, 1.0, 5.2, "lockstep, in the pipeline's fill"},
    {Algorithm::RecursiveDoubling, Collective::Allreduce, Layouts::OneHost, 0.8, 1.4,
     "the formula puts the fold of ranks beyond a power of two before the first exchange, which the other ranks "
     "overlap with it, and prices no local copy (the input's copy into the output)"},
    {Algorithm::RecursiveDoubling, Collective::Allreduce, Layouts::Mixed, 0.9, 1.5,
     "the fold, as on one host, and lockstep"},
    {Algorithm::Rabenseifner, Collective::Allreduce, Layouts::OneHost, 0.8, 1.1,
     "no local copies in the formula, which on one host cost as much as a transfer"},
    {Algorithm::Bruck, Collective::Allgather, Layouts::OneHost, 0.9, 1.9,
     "the formula adds two copies of the whole output; the schedule's copies overlap its transfers"},
    {Algorithm::Bruck, Collective::Allgather, Layouts::Mixed, 0.9, 1.45, "the copies, as on one host"},
    {Algorithm::BruckDirect, Collective::Allgather, Layouts::Mixed, 0.9, 1.45, "lockstep"},
    {Algorithm::BruckDirect, Collective::ReduceScatter, Layouts::Mixed, 0.9, 1.45, "lockstep"},
    {Algorithm::BinomialTree, Collective::Broadcast, Layouts::OneHost, 0.9, 1.55,
     "a rank's sends to its children overlap their latencies; the formula charges a round each"},
    {Algorithm::BinomialTree, Collective::Broadcast, Layouts::Mixed, 0.9, 3.9,
     "the formula prices another binomial tree (round d: r -> r + d), whose last round crosses hosts from every "
     "rank of the root's host; the generator's (parent v - lowbit(v)) hands each subtree over whole, once"},
    {Algorithm::DoubleTree, Collective::Allreduce, Layouts::OneHost, 0.4, 1.1,
     "the formula's steady state keeps every link busy from the first slice on; in the walk the trees' fill "
     "and drain, and the 4 scratch slots per child, leave links idle (the formula matched bench/topo.sh better "
     "than charging more: cost_model.cpp)"},
    {Algorithm::DoubleTree, Collective::Allreduce, Layouts::OneRankPerHost, 0.33, 1.1, "as on one host"},
    {Algorithm::DoubleTree, Collective::Allreduce, Layouts::Mixed, 0.45, 1.45, "as on one host, and lockstep"},
    {Algorithm::Hierarchical, Collective::Allreduce, Layouts::Mixed, 0.95, 1.3,
     "the formula adds the fold, the leaders' ring and the hand-back; the schedule overlaps the locals' "
     "transfers at the leader and pipelines the phases in slices"},
    {Algorithm::Hierarchical, Collective::Allgather, Layouts::Mixed, 0.85, 1.1,
     "small calls: the formula overlaps the leader's gather latency with the ring"},
};

const Departure* departureFor(Algorithm algorithm, Collective collective, Layouts layouts) {
  for (const Departure& d : kDepartures) {
    if (d.algorithm == algorithm && d.collective == collective && d.layouts == layouts) return &d;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("the walk prices hand-made schedules as the model says", "[unit][tuning][cost_walk]") {
  using banyan::algorithms::BufferId;
  using banyan::algorithms::Span;
  const auto t = banyan::test::simulatedHosts(2, 2);  // ranks 0, 1 | 2, 3
  const Span block{BufferId::Input, 0, 1000};         // 4000 bytes
  const Span into{BufferId::Output, 0, 1000};
  std::vector<Schedule> one(4);
  one[0].add(banyan::algorithms::sendStep(1, block));
  one[1].add(banyan::algorithms::recvStep(0, into));
  CHECK(Walk(t, one).run() == Approx(5 + 4000 / 3000.0));
  // Ranks 0 and 1 both send across: host 0's interface carries both, one after the other, and
  // rank 3 reduces what it got.
  std::vector<Schedule> two(4);
  two[0].add(banyan::algorithms::sendStep(2, block));
  two[1].add(banyan::algorithms::sendStep(3, block));
  two[2].add(banyan::algorithms::recvStep(0, into));
  auto last = banyan::algorithms::reduceStep(into, into, block);
  last.dependOn(two[3].add(banyan::algorithms::recvStep(1, into)));
  two[3].add(last);
  CHECK(Walk(t, two).run() == Approx(30 + 2 * 4000 / 117.0 + 4000 / 5000.0));
}

TEST_CASE("every cost formula agrees with a walk over the schedule it prices", "[unit][tuning][cost_walk]") {
  const std::pair<int, int> layouts[] = {{1, 4}, {1, 5}, {4, 1}, {8, 1}, {2, 2}, {2, 3}, {3, 2}, {2, 4}};
  const std::size_t sizes[] = {64, 16 << 10, 1 << 20, 16 << 20};
  int priced = 0;
  for (const tuning::AlgorithmRow& row : tuning::algorithmRegistry()) {
    for (const tuning::Serves& serves : row.serves) {
      if (!serves.cost) continue;
      REQUIRE(serves.generate);  // a formula prices a schedule
      for (auto [hosts, perHost] : layouts) {
        const auto t = banyan::test::simulatedHosts(hosts, perHost);
        const Departure* departure = departureFor(row.algorithm, serves.collective, classOf(hosts, perHost));
        const double low = departure ? departure->low : 1 - kTolerance;
        const double high = departure ? departure->high : 1 + kTolerance;
        for (std::size_t bytes : sizes) {
          // A row priced only from more ranks than the layout has: its formula, checked all the same.
          const auto formula = t.size < serves.pricedFromRanks && tuning::admits(serves, t.size)
                                   ? std::optional<double>(serves.cost(t, static_cast<double>(bytes)))
                                   : tuning::predictUs(t, serves.collective, row.algorithm, bytes);
          if (!formula) continue;  // the rank rule, or priced across hosts only
          const double walk = walkUs(t, row.algorithm, serves.collective, bytes);
          INFO(row.name << " " << banyan::apiName(serves.collective) << " on " << hosts << "x" << perHost << ", "
                        << bytes << " B: formula " << *formula << " us, walk " << walk << " us; allowed " << low << ".."
                        << high << (departure ? " because: " : "") << (departure ? departure->why : ""));
          CHECK(*formula >= low * walk);
          CHECK(*formula <= high * walk);
          ++priced;
        }
      }
    }
  }
  CHECK(priced > 300);
}
