#include "runtime/plan_cache.hpp"

#include "algorithms/bruck.hpp"
#include "algorithms/recursive_doubling.hpp"
#include "algorithms/ring.hpp"

namespace banyan::runtime {

std::shared_ptr<const Plan> PlanCache::get(Collective kind, tuning::Algorithm algorithm, int rank, int size,
                                           std::size_t count, std::size_t sliceElements) {
  const Key key{kind, algorithm, count, sliceElements};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  if (plans_.size() >= kMaxEntries) plans_.clear();
  algorithms::Schedule schedule;
  if (kind == Collective::Allgather) {
    schedule = algorithm == tuning::Algorithm::Bruck ? algorithms::bruckAllgather(rank, size, count)
               : algorithm == tuning::Algorithm::RecursiveDoubling
                   ? algorithms::recursiveDoublingAllgather(rank, size, count)
                   : algorithms::ringAllgather(rank, size, count, sliceElements);
  } else if (algorithm == tuning::Algorithm::RecursiveDoubling) {
    schedule = algorithms::recursiveDoublingAllreduce(rank, size, count);
  } else {
    schedule = algorithms::ringAllreduce(rank, size, count, sliceElements);
  }
  auto plan = makePlan(std::move(schedule));
  plans_.emplace(key, plan);
  return plan;
}

}  // namespace banyan::runtime
