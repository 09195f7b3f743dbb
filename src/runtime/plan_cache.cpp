#include "runtime/plan_cache.hpp"

#include "tuning/algorithm_registry.hpp"

namespace banyan::runtime {

PlanOrRefusal PlanCache::get(Collective kind, tuning::Algorithm algorithm, int rank, int size, int root,
                             std::size_t count, std::size_t sliceElements) {
  const Key key{kind, algorithm, root, count, sliceElements};
  if (auto it = plans_.find(key); it != plans_.end()) return {it->second, {}};
  const tuning::ScheduleRequest request{kind, rank, size, root, count, sliceElements, hostOfRank_};
  // Asked once per shape, on a miss: a cached plan fitted when it was made.
  if (std::string refusal = tuning::scheduleUnfit(algorithm, request); !refusal.empty()) {
    return {nullptr, std::move(refusal)};
  }
  if (plans_.size() >= kMaxEntries) plans_.clear();
  auto plan = makePlan(tuning::generateSchedule(algorithm, request));
  plans_.emplace(key, plan);
  return {plan, {}};
}

}  // namespace banyan::runtime
