// The symbolic checker (see symbolic.hpp for what it checks and its model of execution).
//
// Terms used below
//   variant   out-of-place or in-place. The in-place variant maps Input spans onto Output
//             (offset + inputBase(rank)) before anything touches memory.
//   place     a span after that mapping: (physical buffer, offset, count).
//   message k the k-th Send from rank a to rank b, matched with the k-th Recv on b from a.
//
// The race check walks each rank's steps in index order and keeps, per physical element, the
// last writer and the readers since then. Deps only point backwards, so two steps i < j are
// ordered iff j reaches i through deps; checking each read against the last write, and each
// write against the reads since the last write (or the last write when there are none), covers
// every conflicting pair by transitivity. Reachability is a depth-first search from j that
// never goes below i, memoised per pair.
#include "algorithms/symbolic.hpp"

#include "algorithms/symbolic_internal.hpp"

#include <fmt/format.h>

namespace banyan::algorithms {
namespace {

using namespace symbolic;

std::string check(Collective collective, int size, std::size_t count,
                  const std::function<Schedule(int rank)>& make, const CheckOptions& options) {
  if (size < 1) return "size must be at least 1";
  Setup setup;
  setup.collective = collective;
  setup.size = size;
  setup.count = count;
  for (int r = 0; r < size; ++r) setup.schedules.push_back(make(r));
  if (collective == Collective::Allreduce) {
    setup.fullHash.assign(count, 0);
    for (std::size_t i = 0; i < count; ++i) {
      for (int r = 0; r < size; ++r) setup.fullHash[i] += contribution(r, i);
    }
  }

  std::string error = checkEachSchedule(setup);
  if (!error.empty()) return error;

  for (int variant = 0; variant < 2; ++variant) {
    const bool inPlace = variant == 1;
    if (inPlace ? !options.inPlace : !options.outOfPlace) continue;
    const char* label = inPlace ? "in place" : "out of place";
    for (int r = 0; r < size; ++r) {
      error = checkRaces(setup, r, inPlace, options.races);
      if (!error.empty()) return fmt::format("{}: {}", label, error);
    }
    for (int run = 0; run < options.runs; ++run) {
      const std::uint64_t seed = options.seed + static_cast<std::uint64_t>(run);
      error = simulate(setup, inPlace, seed);
      if (!error.empty()) return fmt::format("{} (seed {}): {}", label, seed, error);
    }
  }
  return {};
}

}  // namespace

std::string checkAllreduce(int size, std::size_t count,
                           const std::function<Schedule(int rank)>& make,
                           const CheckOptions& options) {
  return check(Collective::Allreduce, size, count, make, options);
}

std::string checkAllgather(int size, std::size_t count,
                           const std::function<Schedule(int rank)>& make,
                           const CheckOptions& options) {
  return check(Collective::Allgather, size, count, make, options);
}

}  // namespace banyan::algorithms
