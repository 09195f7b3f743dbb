#include "runtime/plan_cache.hpp"

#include "tuning/algorithm_registry.hpp"

namespace banyan::runtime {

std::shared_ptr<const Plan> PlanCache::get(Collective kind, tuning::Algorithm algorithm, int rank, int size, int root,
                                           std::size_t count, std::size_t sliceElements) {
  const Key key{kind, algorithm, root, count, sliceElements};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  if (plans_.size() >= kMaxEntries) plans_.clear();
  // The registry refuses (Error(Internal)) what the selector should never have chosen: shm,
  // alltoallv (planned per call), a rank count the algorithm's rule excludes.
  auto plan =
      makePlan(tuning::generateSchedule(algorithm, {kind, rank, size, root, count, sliceElements, hostOfRank_}));
  plans_.emplace(key, plan);
  return plan;
}

}  // namespace banyan::runtime
