#pragma once
// Schedules depend only on (collective, algorithm, rank, size, root, count, slice), and training loops repeat
// the same few shapes, so plans are built once and reused. The schedules come from the
// algorithm registry's generators (tuning/algorithm_registry.hpp).

#include "common/collective.hpp"
#include "runtime/executor.hpp"
#include "tuning/algorithm.hpp"

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace banyan::runtime {

// A plan, or why the algorithm cannot plan the shape (the registry's scheduleUnfit): then `plan`
// is null. What the selector should never have chosen (shm, alltoallv, a rank count the
// algorithm's rule excludes, a root out of range) comes back here as a value, not an exception
// on the driving thread.
struct PlanOrRefusal {
  std::shared_ptr<const Plan> plan;
  std::string refusal;
};

class PlanCache {
 public:
  // `root`: of a rooted collective (isRooted); ignored, pass 0, for the others.
  PlanOrRefusal get(Collective kind, tuning::Algorithm algorithm, int rank, int size, int root, std::size_t count,
                    std::size_t sliceElements);

  // The host of every rank, for the hierarchical schedules (the same on every rank: the
  // topology's). Unset: every rank on its own host.
  void setHosts(std::vector<int> hostOfRank) { hostOfRank_ = std::move(hostOfRank); }

 private:
  // A bound on memory when a program sweeps through many sizes (a benchmark does).
  static constexpr std::size_t kMaxEntries = 256;
  // rank and size are fixed per communicator (one cache each), so they are not part of it.
  using Key = std::tuple<Collective, tuning::Algorithm, int, std::size_t, std::size_t>;
  std::map<Key, std::shared_ptr<const Plan>> plans_;
  std::vector<int> hostOfRank_;
};

}  // namespace banyan::runtime
