#include "tuning/cost_model.hpp"

#include "algorithms/double_binary_tree.hpp"
#include "tuning/algorithm_registry.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

namespace banyan::tuning {

namespace {

using topology::Topology;

// Transfer time of one round in which every rank r (that has one) sends `bytes` to peer(r):
// alpha of the slowest class used, bytes over the per-transfer bandwidth of the slowest flow.
double roundUs(const Topology& t, const std::function<int(int)>& peer, double bytes) {
  std::vector<int> leaving(static_cast<std::size_t>(t.hostCount()), 0);
  bool anyInter = false, anyIntra = false;
  for (int r = 0; r < t.size; ++r) {
    const int p = peer(r);
    if (p < 0 || p == r) continue;
    if (t.sameHost(r, p)) {
      anyIntra = true;
    } else {
      anyInter = true;
      ++leaving[static_cast<std::size_t>(t.hostOfRank[static_cast<std::size_t>(r)])];
    }
  }
  if (!anyInter && !anyIntra) return 0;
  double us = 0;
  if (anyIntra) us = std::max(us, t.intra.latencyUs + bytes / t.intra.bandwidthMBps);
  if (anyInter) {
    const int flows = *std::max_element(leaving.begin(), leaving.end());
    us = std::max(us, t.inter.latencyUs + bytes * flows / t.inter.bandwidthMBps);
  }
  return us;  // MB/s is bytes per microsecond
}

double memoryUs(const Topology& t, double bytes) { return bytes / t.memory.bandwidthMBps; }

// One host holding more ranks than it has cores (cores known): its ranks take turns on them.
bool oversubscribedOneHost(const Topology& t) {
  if (t.hostCount() != 1) return false;
  const int cores = t.hosts[0].cores;
  return cores > 0 && static_cast<int>(t.hosts[0].ranks.size()) > cores;
}

// A ring step (every rank passing `chunk` to the next, in slices) and, for a reducing step,
// the reduction of what arrived. Across hosts the slices' reductions overlap the next slices'
// transfer (the network moves them, the cores reduce): the larger of the two. On one host with
// more ranks than cores the ring pipelines nothing (bench/RESULTS.md, issue 4 fourth session:
// 1 host x 4 on 2 cores, the ring took 1.5x Rabenseifner's time from 512 KiB to 32 MiB, which
// the old max() priced 0.8x): a slice moves only when its receiver is scheduled, so each
// slice's hand-off costs about one more copy of it while the sender waits, and the reduction
// runs on the same cores as the copies, after them.
//
// From kLargeJobMinRanks on, a ring step is not a lockstep round (issue 19, banyan-sim at
// 1k-64k ranks): a slice goes on as soon as it arrives, so what a step adds is the mean latency
// of the ring's hops (7 of 8 are inside the host on hosts of 8 ranks; charging every step the
// inter-host latency over-priced the ring 1.5-3.3x there), and once a block is cut into several
// slices their transfers hide that latency: a step costs its slowest link's transfer of the
// block, or a slice's latency and transfer where that is longer. Below, on the layouts the tests
// and bench/topo.sh measure the choices on, the lockstep round stays: there the walk of
// test_cost_walk.cpp finds the mean latency 0.8x too cheap at small sizes.
double ringStepUs(const Topology& t, double chunk, bool reduces) {
  const int n = t.size;
  const auto next = [n](int r) { return (r + 1) % n; };
  if (oversubscribedOneHost(t)) return roundUs(t, next, 2 * chunk) + (reduces ? memoryUs(t, chunk) : 0);
  if (n < kLargeJobMinRanks) {
    const double step = roundUs(t, next, chunk);
    return reduces ? std::max(step, memoryUs(t, chunk)) : step;
  }
  std::vector<int> leaving(static_cast<std::size_t>(t.hostCount()), 0);
  double latencySum = 0, transfer = 0;
  for (int r = 0; r < n; ++r) {
    if (t.sameHost(r, next(r))) {
      latencySum += t.intra.latencyUs;
      transfer = std::max(transfer, chunk / t.intra.bandwidthMBps);
    } else {
      latencySum += t.inter.latencyUs;
      ++leaving[static_cast<std::size_t>(t.hostOfRank[static_cast<std::size_t>(r)])];
    }
  }
  const int flows = *std::max_element(leaving.begin(), leaving.end());
  transfer = std::max(transfer, chunk * flows / t.inter.bandwidthMBps);
  const double sliceBytes = std::min(1024.0 * 1024, std::max(64.0 * 1024, chunk / 4));  // algorithms/slicing.hpp
  const double slices = std::max(1.0, std::ceil(chunk / sliceBytes));
  const double step = std::max(transfer, latencySum / n + transfer / slices);
  return reduces ? std::max(step, memoryUs(t, chunk)) : step;
}

}  // namespace

namespace cost {

double ringAllreduce(const Topology& t, double bytes) {
  const int n = t.size;
  const double chunk = bytes / n;
  // Reduce-scatter steps reduce a chunk as it arrives (pipelined slices); allgather steps copy.
  return (n - 1) * ringStepUs(t, chunk, true) + (n - 1) * ringStepUs(t, chunk, false);
}

double recursiveDoublingAllreduce(const Topology& t, double bytes) {
  const int n = t.size;
  int p = 1;
  while (p * 2 <= n) p *= 2;
  double us = 0;
  if (p != n) {
    // The fold: ranks p.. send their vector to rank - p first and get the result back last.
    us += 2 * roundUs(
                  t, [p](int r) { return r >= p ? r - p : -1; }, bytes) +
          memoryUs(t, bytes);
  }
  for (int d = 1; d < p; d *= 2) {
    us += roundUs(
              t, [d, p](int r) { return r < p ? (r ^ d) : -1; }, bytes) +
          memoryUs(t, bytes);
  }
  return us;
}

double ringAllgather(const Topology& t, double block) { return (t.size - 1) * ringStepUs(t, block, false); }

double recursiveDoublingAllgather(const Topology& t, double block) {
  double us = 0;
  for (int d = 1; d < t.size; d *= 2)
    us += roundUs(
        t, [d](int r) { return r ^ d; }, block * d);
  return us;
}

double bruckAllgather(const Topology& t, double block) {
  const int n = t.size;
  double us = 2 * memoryUs(t, block * n);  // the initial copy and the final rotation
  for (int d = 1; d < n; d *= 2) {
    us += roundUs(
        t, [d, n](int r) { return (r - d + n) % n; }, block * std::min(d, n - d));
  }
  return us;
}

// Bruck's rounds straight into Output: the rounds' messages, and no local pass (a wrapping run
// is two messages back to back, priced as one).
double bruckDirectAllgather(const Topology& t, double block) {
  const int n = t.size;
  double us = 0;
  for (int d = 1; d < n; d *= 2) {
    us += roundUs(
        t, [d, n](int r) { return (r - d + n) % n; }, block * std::min(d, n - d));
  }
  return us;
}

// The same rounds backwards, each reducing what it received, unpipelined.
double bruckDirectReduceScatter(const Topology& t, double block) {
  const int n = t.size;
  double us = 0;
  for (int d = 1; d < n; d *= 2) {
    const double bytes = block * std::min(d, n - d);
    us += roundUs(
              t, [d, n](int r) { return (r + d) % n; }, bytes) +
          memoryUs(t, bytes);
  }
  return us;
}

// Recursive halving then doubling over the largest power of two, with recursive doubling's fold.
double rabenseifnerAllreduce(const Topology& t, double bytes) {
  const int n = t.size;
  int p = 1;
  while (p * 2 <= n) p *= 2;
  double us = 0;
  if (p != n)
    us += 2 * roundUs(
                  t, [p](int r) { return r >= p ? r - p : -1; }, bytes) +
          memoryUs(t, bytes);
  for (int d = p / 2; d >= 1; d /= 2) {
    const double part = bytes * d / p;
    const double round = roundUs(
        t, [d, p](int r) { return r < p ? (r ^ d) : -1; }, part);
    us += 2 * round + memoryUs(t, part);  // a halving round with its reduction, a doubling round
  }
  return us;
}

// Folds of the locals' vectors at the leader, the leaders' ring across hosts, the hand-back.
double hierarchicalAllreduce(const Topology& t, double bytes) {
  const int locals = t.maxRanksPerHost() - 1;
  const int hosts = t.hostCount();
  const double intra = locals * (t.intra.latencyUs + bytes / t.intra.bandwidthMBps);
  const double chunk = bytes / hosts;
  const double step = t.inter.latencyUs + chunk / t.inter.bandwidthMBps;
  const double ring = (hosts - 1) * std::max(step, memoryUs(t, chunk)) + (hosts - 1) * step;
  return intra + locals * memoryUs(t, bytes) + ring + intra;
}

// Each leader gathers its host's blocks, the leaders pass whole hosts' blocks around a ring,
// and each leader hands the n - 1 other blocks to its locals, mostly while the ring runs.
double hierarchicalAllgather(const Topology& t, double block) {
  const int k = t.maxRanksPerHost();
  const int hosts = t.hostCount();
  const int locals = k - 1;
  const double gather = locals > 0 ? t.intra.latencyUs + locals * block / t.intra.bandwidthMBps : 0;
  const double ring = (hosts - 1) * (t.inter.latencyUs + k * block / t.inter.bandwidthMBps);
  const double handBack = locals > 0 ? t.intra.latencyUs + locals * (t.size - 1) * block / t.intra.bandwidthMBps : 0;
  return gather + std::max(ring, handBack);
}

// The double binary tree: slices of each half climb a tree and come back down, one behind the
// other. The first slice takes 2 depth hops, each one slice over the slowest link class the
// trees use plus its latency; every further slice adds one steady-state step, in which every
// rank receives and sends about four slices (two children's and the parent's in the tree where
// it is interior, one each way in the other) and folds two, and a host's network link carries
// one slice each way per tree edge that leaves it. (Charging the steady-state step for the
// first slice too over-predicted small trees 2-5x in bench/topo.sh's first run of it.) Slices
// as the executor cuts them (runtime/schedule_engine.cpp, sliceElements).
double doubleTreeAllreduce(const Topology& t, double bytes) {
  const int n = t.size;
  const double slice = std::min(1024.0 * 1024, std::max(64.0 * 1024, bytes / n / 4));
  const double half = bytes / 2;
  const double sliceBytes = std::min(slice, half);
  const double slices = std::ceil(half / sliceBytes);
  int depth = 0;
  std::vector<int> intraIn(static_cast<std::size_t>(n), 0);
  std::vector<int> hostOut(static_cast<std::size_t>(t.hostCount()), 0);
  std::vector<int> hostIn(static_cast<std::size_t>(t.hostCount()), 0);
  bool anyInter = false;
  for (int tree = 0; tree < 2; ++tree) {
    for (int r = 0; r < n; ++r) {
      int hops = 0;
      for (int x = r; x >= 0; x = algorithms::doubleTreeNode(tree, x, n).parent) ++hops;
      depth = std::max(depth, hops - 1);
      const int parent = algorithms::doubleTreeNode(tree, r, n).parent;
      if (parent < 0) continue;
      // The edge carries a slice up (r -> parent) and one down (parent -> r) per step.
      if (t.sameHost(r, parent)) {
        ++intraIn[static_cast<std::size_t>(r)];
        ++intraIn[static_cast<std::size_t>(parent)];
      } else {
        anyInter = true;
        const auto hr = static_cast<std::size_t>(t.hostOfRank[static_cast<std::size_t>(r)]);
        const auto hp = static_cast<std::size_t>(t.hostOfRank[static_cast<std::size_t>(parent)]);
        ++hostOut[hr], ++hostIn[hp], ++hostOut[hp], ++hostIn[hr];
      }
    }
  }
  const int intraMost = *std::max_element(intraIn.begin(), intraIn.end());
  const int interMost =
      std::max(*std::max_element(hostOut.begin(), hostOut.end()), *std::max_element(hostIn.begin(), hostIn.end()));
  double hop = memoryUs(t, sliceBytes);
  double step = memoryUs(t, 2 * sliceBytes);
  if (oversubscribedOneHost(t)) {
    // As the ring's (ringStepUs): slices hand off only when the receiver runs, at about twice
    // their copy, and the folds follow the copies on the same cores.
    hop += t.intra.latencyUs + 2 * sliceBytes / t.intra.bandwidthMBps;
    step += t.intra.latencyUs + 2 * intraMost * sliceBytes / t.intra.bandwidthMBps;
  } else if (intraMost > 0) {
    hop = std::max(hop, t.intra.latencyUs + sliceBytes / t.intra.bandwidthMBps);
    step = std::max(step, t.intra.latencyUs + intraMost * sliceBytes / t.intra.bandwidthMBps);
  }
  if (anyInter) {
    hop = std::max(hop, t.inter.latencyUs + sliceBytes / t.inter.bandwidthMBps);
    step = std::max(step, t.inter.latencyUs + interMost * sliceBytes / t.inter.bandwidthMBps);
  }
  return 2 * depth * hop + (slices - 1) * step;
}

// Reduce-scatter ring: n - 1 steps, each passing one block to the next rank and reducing the
// block received, pipelined in slices as the allreduce ring's first half.
double ringReduceScatter(const Topology& t, double block) { return (t.size - 1) * ringStepUs(t, block, true); }

// Recursive halving (power-of-two ranks): rounds at distance n/2, n/4, ..., 1, each sending and
// then reducing half of what is left, unpipelined.
double recursiveHalvingReduceScatter(const Topology& t, double block) {
  double us = 0;
  for (int d = t.size / 2; d >= 1; d /= 2) {
    us += roundUs(
              t, [d](int r) { return r ^ d; }, block * d) +
          memoryUs(t, block * d);
  }
  return us;
}

// Binomial broadcast from rank 0: round k, the 2^k ranks that have the message send it whole to
// rank + 2^k.
double binomialBroadcast(const Topology& t, double bytes) {
  const int n = t.size;
  double us = 0;
  for (int d = 1; d < n; d *= 2) {
    us += roundUs(
        t, [d, n](int r) { return r < d && r + d < n ? r + d : -1; }, bytes);
  }
  return us;
}

// Chain broadcast from rank 0: (n - 1) + (slices - 1) slice hops, each at the slowest link of
// the chain (every link is busy at once once the pipe is full). Slices as the executor cuts a
// broadcast's (runtime/schedule_engine.cpp, sliceElements): about four, 64 KiB to 1 MiB; two ranks, one message.
double chainBroadcast(const Topology& t, double bytes) {
  const int n = t.size;
  const double slice = n == 2 ? bytes : std::min(1024.0 * 1024, std::max(64.0 * 1024, bytes / 4));
  const double sliceBytes = std::min(slice, bytes);
  const double slices = std::ceil(bytes / sliceBytes);
  const double hop = roundUs(
      t, [n](int r) { return r + 1 < n ? r + 1 : -1; }, sliceBytes);
  return (n - 1 + slices - 1) * hop;
}

}  // namespace cost

std::optional<double> predictUs(const Topology& t, Collective collective, Algorithm algorithm, std::size_t bytes) {
  // One rank: whatever the algorithm, the call is a copy of the buffer.
  if (t.size == 1) return memoryUs(t, static_cast<double>(bytes));
  const Serves* serves = servesOf(algorithm, collective);
  if (!serves || !serves->cost) return std::nullopt;
  if (!admits(*serves, t.size)) return std::nullopt;
  if (serves->pricedAcrossHostsOnly && t.hostCount() == 1) return std::nullopt;
  if (t.size < serves->pricedFromRanks) return std::nullopt;
  return serves->cost(t, static_cast<double>(bytes));
}

}  // namespace banyan::tuning
