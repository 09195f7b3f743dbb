// The symbolic checker (see symbolic.hpp for what it checks and its model of execution).
//
// Terms used below
//   variant   out-of-place or in-place. On the ranks where a collective aliases its buffers,
//             the in-place variant maps Input and Output spans into one physical buffer (at
//             the layout's inputBase / outputBase) before anything touches memory.
//   place     a span after that mapping: (physical buffer, offset, count).
//   message k the k-th Send from rank a to rank b, matched with the k-th Recv on b from a.
//
// The race check walks each rank's steps in index order and keeps, per physical element, the
// last writer and the readers since then. Deps only point backwards, so two steps i < j are
// ordered iff j reaches i through deps; checking each read against the last write, and each
// write against the reads since the last write (or the last write when there are none), covers
// every conflicting pair by transitivity. Reachability is a depth-first search from j that
// never goes below i, memoised per pair.
#include "symbolic/symbolic.hpp"

#include "symbolic/symbolic_internal.hpp"

#include <fmt/format.h>

#include <utility>

namespace banyan::algorithms {
namespace {

using namespace symbolic;

std::string check(Setup setup, const ScheduleMaker& make, const CheckOptions& options) {
  std::string error = describeCollective(setup);
  if (!error.empty()) return error;
  for (int r = 0; r < setup.size; ++r) setup.schedules.push_back(make(r));

  error = checkEachSchedule(setup);
  if (!error.empty()) return error;

  for (int variant = 0; variant < 2; ++variant) {
    const bool inPlace = variant == 1;
    if (inPlace ? !(options.inPlace && setup.hasInPlace) : !options.outOfPlace) continue;
    const char* label = inPlace ? "in place" : "out of place";
    for (int r = 0; r < setup.size; ++r) {
      error = checkRaces(setup, r, inPlace, options.races);
      if (!error.empty()) return fmt::format("{}: {}", label, error);
    }
    for (int run = 0; run < options.runs; ++run) {
      const std::uint64_t seed = options.seed + static_cast<std::uint64_t>(run);
      error = simulate(setup, inPlace, seed);
      if (!error.empty()) return fmt::format("{} (seed {}): {}", label, seed, error);
    }
  }
  if (setup.collective == Collective::Barrier) return checkBarrierOrdering(setup);
  return {};
}

Setup setupOf(Collective collective, int size, std::size_t count, int root = 0) {
  Setup setup;
  setup.collective = collective;
  setup.size = size;
  setup.count = count;
  setup.root = root;
  return setup;
}

}  // namespace

std::string checkAllreduce(int size, std::size_t count, const ScheduleMaker& make, const CheckOptions& options) {
  return check(setupOf(Collective::Allreduce, size, count), make, options);
}

std::string checkAllgather(int size, std::size_t count, const ScheduleMaker& make, const CheckOptions& options) {
  return check(setupOf(Collective::Allgather, size, count), make, options);
}

std::string checkReduceScatter(int size, std::size_t count, const ScheduleMaker& make, const CheckOptions& options) {
  return check(setupOf(Collective::ReduceScatter, size, count), make, options);
}

std::string checkBroadcast(int size, int root, std::size_t count, const ScheduleMaker& make,
                           const CheckOptions& options) {
  return check(setupOf(Collective::Broadcast, size, count, root), make, options);
}

std::string checkReduce(int size, int root, std::size_t count, const ScheduleMaker& make, const CheckOptions& options) {
  return check(setupOf(Collective::Reduce, size, count, root), make, options);
}

std::string checkGather(int size, int root, std::size_t count, const ScheduleMaker& make, const CheckOptions& options) {
  return check(setupOf(Collective::Gather, size, count, root), make, options);
}

std::string checkScatter(int size, int root, std::size_t count, const ScheduleMaker& make,
                         const CheckOptions& options) {
  return check(setupOf(Collective::Scatter, size, count, root), make, options);
}

std::string checkAlltoall(int size, std::size_t count, const ScheduleMaker& make, const CheckOptions& options) {
  return check(setupOf(Collective::Alltoall, size, count), make, options);
}

std::string checkAlltoallv(const AlltoallvLayout& layout, const ScheduleMaker& make, const CheckOptions& options) {
  Setup setup = setupOf(Collective::Alltoallv, static_cast<int>(layout.counts.size()), 0);
  setup.alltoallv = layout;
  return check(std::move(setup), make, options);
}

std::string checkBarrier(int size, const ScheduleMaker& make, const CheckOptions& options) {
  return check(setupOf(Collective::Barrier, size, 0), make, options);
}

}  // namespace banyan::algorithms
