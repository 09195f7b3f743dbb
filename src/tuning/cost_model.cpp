#include "tuning/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

namespace banyan::tuning {

namespace {

using runtime::Collective;
using topology::Topology;

bool powerOfTwo(int n) { return n > 0 && (n & (n - 1)) == 0; }

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

double ringAllreduce(const Topology& t, double bytes) {
  const int n = t.size;
  const double chunk = bytes / n;
  const double step = roundUs(
      t, [n](int r) { return (r + 1) % n; }, chunk);
  // Reduce-scatter steps reduce a chunk as it arrives (pipelined slices); allgather steps copy.
  return (n - 1) * std::max(step, memoryUs(t, chunk)) + (n - 1) * step;
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

double ringAllgather(const Topology& t, double block) {
  const int n = t.size;
  return (n - 1) * roundUs(
                       t, [n](int r) { return (r + 1) % n; }, block);
}

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

}  // namespace

std::optional<double> predictUs(const Topology& t, Collective collective, Algorithm algorithm, std::size_t bytes) {
  const auto b = static_cast<double>(bytes);
  if (t.size == 1) return memoryUs(t, b);
  switch (collective) {
    case Collective::Allreduce:
      if (algorithm == Algorithm::Ring) return ringAllreduce(t, b);
      if (algorithm == Algorithm::RecursiveDoubling) return recursiveDoublingAllreduce(t, b);
      if (algorithm == Algorithm::Rabenseifner) return rabenseifnerAllreduce(t, b);
      // Only across hosts: on one host it is a gather and a broadcast through one rank.
      if (algorithm == Algorithm::Hierarchical && t.hostCount() > 1) return hierarchicalAllreduce(t, b);
      return std::nullopt;
    case Collective::Allgather:
      if (algorithm == Algorithm::Ring) return ringAllgather(t, b);
      if (algorithm == Algorithm::Bruck) return bruckAllgather(t, b);
      if (algorithm == Algorithm::RecursiveDoubling && powerOfTwo(t.size)) return recursiveDoublingAllgather(t, b);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace banyan::tuning
