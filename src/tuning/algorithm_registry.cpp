#include "tuning/algorithm_registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "algorithms/alltoall.hpp"
#include "algorithms/barrier.hpp"
#include "algorithms/broadcast.hpp"
#include "algorithms/bruck.hpp"
#include "algorithms/bruck_direct.hpp"
#include "algorithms/double_binary_tree.hpp"
#include "algorithms/gather_scatter.hpp"
#include "algorithms/hierarchical.hpp"
#include "algorithms/ordered.hpp"
#include "algorithms/rabenseifner.hpp"
#include "algorithms/recursive_doubling.hpp"
#include "algorithms/reduce_scatter.hpp"
#include "algorithms/ring.hpp"
#include "algorithms/rooted_reduce.hpp"
#include "common/status.hpp"
#include "tuning/algo_override.hpp"
#include "tuning/cost_model.hpp"

namespace banyan::tuning {

namespace {

using algorithms::Schedule;
using Q = ScheduleRequest;

// The rows. Adding an algorithm: its enum value (algorithm.hpp), one row here, its generator
// (src/algorithms/) and, to let the cost model pick it, a formula (cost_model.hpp). The order
// of rows is the order of candidates: on a tie, the earlier row wins.
std::vector<AlgorithmRow> makeRows() {
  using enum Collective;
  using namespace algorithms;
  const std::string_view engine = "the shared-memory engine runs it (intrahost/), not a schedule";
  return {
      {.algorithm = Algorithm::Ring,
       .name = "ring",
       .pipelined = true,
       .serves = {{.collective = Allreduce,
                   .generate = [](const Q& q) { return ringAllreduce(q.rank, q.size, q.count, q.slice); },
                   .cost = cost::ringAllreduce},
                  {.collective = Allgather,
                   .generate = [](const Q& q) { return ringAllgather(q.rank, q.size, q.count, q.slice); },
                   .cost = cost::ringAllgather},
                  {.collective = ReduceScatter,
                   .generate = [](const Q& q) { return ringReduceScatter(q.rank, q.size, q.count, q.slice); },
                   .cost = cost::ringReduceScatter}}},
      {.algorithm = Algorithm::RecursiveDoubling,
       .name = "recursive-doubling",
       .alias = "rd",
       .serves = {{.collective = Allreduce,
                   .generate = [](const Q& q) { return recursiveDoublingAllreduce(q.rank, q.size, q.count); },
                   .cost = cost::recursiveDoublingAllreduce},
                  {.collective = Allgather,
                   .generate = [](const Q& q) { return recursiveDoublingAllgather(q.rank, q.size, q.count); },
                   .cost = cost::recursiveDoublingAllgather,
                   .ranks = RankRule::PowerOfTwo}}},
      {.algorithm = Algorithm::Bruck,
       .name = "bruck",
       .serves = {{.collective = Allgather,
                   .generate = [](const Q& q) { return bruckAllgather(q.rank, q.size, q.count); },
                   .cost = cost::bruckAllgather},
                  {.collective = Alltoall,
                   .generate = [](const Q& q) { return bruckAlltoall(q.rank, q.size, q.count); }}}},
      {.algorithm = Algorithm::RecursiveHalving,
       .name = "recursive-halving",
       .serves = {{.collective = ReduceScatter,
                   .generate = [](const Q& q) { return recursiveHalvingReduceScatter(q.rank, q.size, q.count); },
                   .cost = cost::recursiveHalvingReduceScatter,
                   .ranks = RankRule::PowerOfTwo}}},
      {.algorithm = Algorithm::BinomialTree,
       .name = "binomial-tree",
       .serves = {{.collective = Broadcast,
                   .generate = [](const Q& q) { return binomialBroadcast(q.rank, q.size, q.root, q.count); },
                   .cost = cost::binomialBroadcast},
                  {.collective = Reduce,
                   .generate = [](const Q& q) { return binomialReduce(q.rank, q.size, q.root, q.count); }},
                  {.collective = Gather,
                   .generate = [](const Q& q) { return binomialGather(q.rank, q.size, q.root, q.count); }},
                  {.collective = Scatter,
                   .generate = [](const Q& q) { return binomialScatter(q.rank, q.size, q.root, q.count); }}}},
      {.algorithm = Algorithm::Chain,
       .name = "chain",
       .pipelined = true,
       .serves = {{.collective = Broadcast,
                   .generate = [](const Q& q) { return chainBroadcast(q.rank, q.size, q.root, q.count, q.slice); },
                   .cost = cost::chainBroadcast},
                  {.collective = Reduce,
                   .generate = [](const Q& q) { return chainReduce(q.rank, q.size, q.root, q.count, q.slice); }}}},
      {.algorithm = Algorithm::Direct,
       .name = "direct",
       .serves = {{.collective = Gather,
                   .generate = [](const Q& q) { return directGather(q.rank, q.size, q.root, q.count); }},
                  {.collective = Scatter,
                   .generate = [](const Q& q) { return directScatter(q.rank, q.size, q.root, q.count); }}}},
      {.algorithm = Algorithm::Pairwise,
       .name = "pairwise",
       .serves = {{.collective = Alltoall,
                   .generate = [](const Q& q) { return pairwiseAlltoall(q.rank, q.size, q.count); },
                   .inPlace = false},
                  {.collective = Alltoallv,
                   .noSchedule = "its count tables change from call to call: the communicator plans it per call"}}},
      {.algorithm = Algorithm::Dissemination,
       .name = "dissemination",
       .serves = {{.collective = Barrier,
                   .generate = [](const Q& q) { return disseminationBarrier(q.rank, q.size); }}}},
      {.algorithm = Algorithm::Rabenseifner,
       .name = "rabenseifner",
       .serves = {{.collective = Allreduce,
                   .generate = [](const Q& q) { return rabenseifnerAllreduce(q.rank, q.size, q.count); },
                   .cost = cost::rabenseifnerAllreduce}}},
      {.algorithm = Algorithm::DoubleTree,
       .name = "double-tree",
       .alias = "tree",  // as NCCL_ALGO's "Tree"
       .pipelined = true,
       .serves = {{.collective = Allreduce,
                   .generate = [](const Q& q) { return doubleBinaryTreeAllreduce(q.rank, q.size, q.count, q.slice); },
                   .cost = cost::doubleTreeAllreduce}}},
      // Priced across hosts only: on one host it is a gather and a broadcast through one rank.
      {.algorithm = Algorithm::Hierarchical,
       .name = "hierarchical",
       .pipelined = true,
       .serves = {{.collective = Allreduce,
                   .generate = [](const Q& q) { return hierarchicalAllreduce(q.rank, q.hostOfRank, q.count, q.slice); },
                   .cost = cost::hierarchicalAllreduce,
                   .pricedAcrossHostsOnly = true},
                  {.collective = Allgather,
                   .generate = [](const Q& q) { return hierarchicalAllgather(q.rank, q.hostOfRank, q.count, q.slice); },
                   .cost = cost::hierarchicalAllgather,
                   .pricedAcrossHostsOnly = true}}},
      {.algorithm = Algorithm::SharedMemory,
       .name = "shm",
       .serves = {{.collective = Allreduce, .noSchedule = engine},
                  {.collective = Allgather, .noSchedule = engine},
                  {.collective = ReduceScatter, .noSchedule = engine},
                  {.collective = Broadcast, .noSchedule = engine},
                  {.collective = Gather, .noSchedule = engine},
                  {.collective = Scatter, .noSchedule = engine},
                  {.collective = Alltoall, .noSchedule = engine}}},
      // No cost formula: only deterministic mode (selector.hpp), BANYAN_ALGO or a table picks it.
      {.algorithm = Algorithm::Ordered,
       .name = "ordered",
       .pipelined = true,
       .serves = {{.collective = Allreduce,
                   .generate = [](const Q& q) { return orderedAllreduce(q.rank, q.size, q.count, q.slice); }},
                  {.collective = ReduceScatter,
                   .generate = [](const Q& q) { return orderedReduceScatter(q.rank, q.size, q.count, q.slice); }},
                  {.collective = Reduce,
                   .generate = [](const Q& q) { return orderedReduce(q.rank, q.size, q.root, q.count, q.slice); }}}},
      // For many hosts: priced from kLargeJobMinRanks ranks on, so that the choices
      // measured at small scale (tests/unit/test_selection.cpp) stay as they were.
      {.algorithm = Algorithm::BruckDirect,
       .name = "bruck-direct",
       .serves = {{.collective = Allgather,
                   .generate = [](const Q& q) { return bruckDirectAllgather(q.rank, q.size, q.count); },
                   .cost = cost::bruckDirectAllgather,
                   .pricedFromRanks = kLargeJobMinRanks},
                  {.collective = ReduceScatter,
                   .generate = [](const Q& q) { return bruckDirectReduceScatter(q.rank, q.size, q.count); },
                   .cost = cost::bruckDirectReduceScatter,
                   .pricedFromRanks = kLargeJobMinRanks}}},
  };
}

bool powerOfTwo(int n) { return n > 0 && (n & (n - 1)) == 0; }

}  // namespace

const std::vector<AlgorithmRow>& algorithmRegistry() {
  static const std::vector<AlgorithmRow> rows = makeRows();
  return rows;
}

const AlgorithmRow& rowOf(Algorithm algorithm) {
  // Indexed by the enum's value: the selector looks rows up on every call.
  static const std::vector<const AlgorithmRow*> byValue = [] {
    std::vector<const AlgorithmRow*> index;
    for (const AlgorithmRow& row : algorithmRegistry()) {
      const auto at = static_cast<std::size_t>(row.algorithm);
      if (index.size() <= at) index.resize(at + 1, nullptr);
      index[at] = &row;
    }
    return index;
  }();
  const auto at = static_cast<std::size_t>(algorithm);
  if (at >= byValue.size() || byValue[at] == nullptr) {
    fail(ErrorCode::Internal, "algorithm {} has no registry row", static_cast<int>(algorithm));
  }
  return *byValue[at];
}

std::string_view toString(Algorithm algorithm) { return rowOf(algorithm).name; }

const Serves* servesOf(Algorithm algorithm, Collective collective) {
  for (const Serves& s : rowOf(algorithm).serves) {
    if (s.collective == collective) return &s;
  }
  return nullptr;
}

std::optional<Algorithm> algorithmFromName(std::string_view name) {
  for (const AlgorithmRow& row : algorithmRegistry()) {
    if (row.name == name || (!row.alias.empty() && row.alias == name)) return row.algorithm;
  }
  return std::nullopt;
}

std::vector<Algorithm> algorithmsOf(Collective collective) {
  std::vector<Algorithm> found;
  for (const AlgorithmRow& row : algorithmRegistry()) {
    for (const Serves& s : row.serves) {
      if (s.collective == collective) found.push_back(row.algorithm);
    }
  }
  return found;
}

std::string algorithmNames(Collective collective) {
  std::string names;
  for (Algorithm a : algorithmsOf(collective)) names += fmt::format("{}{}", names.empty() ? "" : ", ", toString(a));
  return names;
}

std::vector<Collective> pricedCollectives() {
  std::vector<Collective> found;
  for (const AlgorithmRow& row : algorithmRegistry()) {
    for (const Serves& s : row.serves) {
      if (s.cost && std::find(found.begin(), found.end(), s.collective) == found.end()) found.push_back(s.collective);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

bool admits(const Serves& serves, int size) { return serves.ranks == RankRule::Any || powerOfTwo(size); }

std::string unsupportedReason(Collective collective, Algorithm algorithm, int size) {
  const Serves* serves = servesOf(algorithm, collective);
  if (!serves) return fmt::format("{} has no {} schedule", collectiveName(collective), toString(algorithm));
  if (!admits(*serves, size)) {
    return fmt::format("{} {} needs a power-of-two rank count, not {}", collectiveName(collective), toString(algorithm),
                       size);
  }
  return {};
}

std::string scheduleUnfit(Algorithm algorithm, const ScheduleRequest& q) {
  if (std::string why = unsupportedReason(q.collective, algorithm, q.size); !why.empty()) return why;
  const Serves& serves = *servesOf(algorithm, q.collective);
  if (!serves.generate)
    return fmt::format("{} {}: {}", collectiveName(q.collective), toString(algorithm), serves.noSchedule);
  if (q.size < 1 || q.rank < 0 || q.rank >= q.size) return fmt::format("rank {} of {} ranks", q.rank, q.size);
  if (isRooted(q.collective) && (q.root < 0 || q.root >= q.size)) {
    return fmt::format("root {} of {} ranks", q.root, q.size);
  }
  if (q.slice < 1) return "a slice of 0 elements";
  if (!q.hostOfRank.empty() && q.hostOfRank.size() != static_cast<std::size_t>(q.size)) {
    return fmt::format("{} host entries for {} ranks", q.hostOfRank.size(), q.size);
  }
  return {};
}

Schedule generateSchedule(Algorithm algorithm, const ScheduleRequest& request) {
  if (const std::string why = scheduleUnfit(algorithm, request); !why.empty()) {
    fail(ErrorCode::Internal, "no {} schedule for this call: {}", toString(algorithm), why);
  }
  if (!request.hostOfRank.empty()) return servesOf(algorithm, request.collective)->generate(request);
  ScheduleRequest ownHosts = request;  // one rank per host
  for (int r = 0; r < request.size; ++r) ownHosts.hostOfRank.push_back(r);
  return servesOf(algorithm, request.collective)->generate(ownHosts);
}

}  // namespace banyan::tuning
