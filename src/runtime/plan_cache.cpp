#include "runtime/plan_cache.hpp"

#include "algorithms/alltoall.hpp"
#include "algorithms/barrier.hpp"
#include "algorithms/broadcast.hpp"
#include "algorithms/bruck.hpp"
#include "algorithms/double_binary_tree.hpp"
#include "algorithms/gather_scatter.hpp"
#include "algorithms/hierarchical.hpp"
#include "algorithms/rabenseifner.hpp"
#include "algorithms/recursive_doubling.hpp"
#include "algorithms/reduce_scatter.hpp"
#include "algorithms/ring.hpp"
#include "algorithms/rooted_reduce.hpp"
#include "common/status.hpp"
#include "tuning/selection.hpp"

namespace banyan::runtime {

namespace {

using tuning::Algorithm;

// The host of each rank for the two-level schedules; without a layout, one rank per host.
std::vector<int> hostsOf(const std::vector<int>& hostOfRank, int size) {
  std::vector<int> hosts = hostOfRank;
  if (hosts.size() != static_cast<std::size_t>(size)) {
    hosts.resize(static_cast<std::size_t>(size));
    for (int r = 0; r < size; ++r) hosts[static_cast<std::size_t>(r)] = r;
  }
  return hosts;
}

algorithms::Schedule generate(Collective kind, Algorithm algorithm, int rank, int size, int root, std::size_t count,
                              std::size_t slice, const std::vector<int>& hostOfRank) {
  if (algorithm == Algorithm::SharedMemory) {
    // The communicator hands these calls to the shared-memory engine, never to the executor.
    fail(ErrorCode::Internal, "plan cache: shm is not a schedule (collective {})", static_cast<int>(kind));
  }
  switch (kind) {
    case Collective::Allreduce:
      if (algorithm == Algorithm::Hierarchical) return algorithms::hierarchicalAllreduce(rank, hostsOf(hostOfRank, size), count, slice);
      if (algorithm == Algorithm::Rabenseifner) return algorithms::rabenseifnerAllreduce(rank, size, count);
      if (algorithm == Algorithm::DoubleTree) return algorithms::doubleBinaryTreeAllreduce(rank, size, count, slice);
      return algorithm == Algorithm::RecursiveDoubling ? algorithms::recursiveDoublingAllreduce(rank, size, count)
                                                       : algorithms::ringAllreduce(rank, size, count, slice);
    case Collective::Allgather:
      if (algorithm == Algorithm::Hierarchical) return algorithms::hierarchicalAllgather(rank, hostsOf(hostOfRank, size), count, slice);
      return algorithm == Algorithm::Bruck               ? algorithms::bruckAllgather(rank, size, count)
             : algorithm == Algorithm::RecursiveDoubling ? algorithms::recursiveDoublingAllgather(rank, size, count)
                                                         : algorithms::ringAllgather(rank, size, count, slice);
    case Collective::ReduceScatter:
      return algorithm == Algorithm::RecursiveHalving ? algorithms::recursiveHalvingReduceScatter(rank, size, count)
                                                      : algorithms::ringReduceScatter(rank, size, count, slice);
    case Collective::Broadcast:
      return algorithm == Algorithm::BinomialTree ? algorithms::binomialBroadcast(rank, size, root, count)
                                                  : algorithms::chainBroadcast(rank, size, root, count, slice);
    case Collective::Reduce:
      return algorithm == Algorithm::BinomialTree ? algorithms::binomialReduce(rank, size, root, count)
                                                  : algorithms::chainReduce(rank, size, root, count, slice);
    case Collective::Gather:
      return algorithm == Algorithm::BinomialTree ? algorithms::binomialGather(rank, size, root, count)
                                                  : algorithms::directGather(rank, size, root, count);
    case Collective::Scatter:
      return algorithm == Algorithm::BinomialTree ? algorithms::binomialScatter(rank, size, root, count)
                                                  : algorithms::directScatter(rank, size, root, count);
    case Collective::Alltoall:
      return algorithm == Algorithm::Bruck ? algorithms::bruckAlltoall(rank, size, count)
                                           : algorithms::pairwiseAlltoall(rank, size, count);
    case Collective::Barrier:
      return algorithms::disseminationBarrier(rank, size);
    case Collective::Alltoallv:
      break;  // its tables change from call to call: the communicator plans it per call
  }
  fail(ErrorCode::Internal, "plan cache: no schedule for collective {}", static_cast<int>(kind));
}

}  // namespace

std::shared_ptr<const Plan> PlanCache::get(Collective kind, tuning::Algorithm algorithm, int rank, int size, int root,
                                           std::size_t count, std::size_t sliceElements) {
  const Key key{kind, algorithm, root, count, sliceElements};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  if (plans_.size() >= kMaxEntries) plans_.clear();
  auto plan = makePlan(generate(kind, algorithm, rank, size, root, count, sliceElements, hostOfRank_));
  plans_.emplace(key, plan);
  return plan;
}

}  // namespace banyan::runtime
