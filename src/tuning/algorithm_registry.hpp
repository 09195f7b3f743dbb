#pragma once
// The algorithm registry: one row per algorithm, the only list of which algorithms exist, what
// they are called, which collectives they serve, what they need to run, how they are priced and
// how a rank's schedule is made. BANYAN_ALGO and tuning tables (names, what a collective has),
// the selector (candidates, pipelined or not), the cost model (formulas), the plan cache
// (generators) and banyan-topo read it; the rows are in algorithm_registry.cpp.
//
// Terms
//   request   one rank's part of one call: collective, rank, size, root, count, slice, hosts.
//   serves    what a row says about one collective it runs: the generator, the cost formula,
//             the rank-count rule.
//   fits      a request fits a row when the generator will make a valid schedule for it; the
//             generators assume it (they throw std::invalid_argument on bad ranks, and make
//             wrong schedules for rank counts their rule excludes), so callers ask first.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "algorithms/schedule.hpp"
#include "common/collective.hpp"
#include "topology/topology.hpp"
#include "tuning/algorithm.hpp"

namespace banyan::tuning {

struct ScheduleRequest {
  Collective collective = Collective::Allreduce;
  int rank = 0;
  int size = 1;
  int root = 0;           // of a rooted collective (isRooted); 0 for the others
  std::size_t count = 0;  // elements, as the communicator counts them (allgather: one rank's block)
  std::size_t slice = 1;  // the largest message of a pipelined schedule, in elements (>= 1)
  // The host of every rank, for the two-level schedules; empty: every rank on a host of its own.
  std::vector<int> hostOfRank;
};

// This rank's schedule for a request that fits.
using Generator = algorithms::Schedule (*)(const ScheduleRequest& request);

// Predicted microseconds for `bytes` (as choose() counts them) on a topology of 2 or more
// ranks that the rank rule admits (cost_model.hpp has the terms and the formulas).
using CostFormula = double (*)(const topology::Topology& topology, double bytes);

// What a schedule needs of the rank count, beyond 1 <= size.
enum class RankRule { Any, PowerOfTwo };

// From this many ranks the cost model prices what was built for large jobs (bruck-direct, the
// ring's overlapped latency: cost_model.cpp); up to 16 ranks, the layouts the tests and
// bench/topo.sh measured the selector's choices on, those choices stay as they were.
inline constexpr int kLargeJobMinRanks = 17;

struct Serves {
  Collective collective;
  // nullptr: no schedule to cache; `noSchedule` says why (and who runs the call instead).
  Generator generate = nullptr;
  std::string_view noSchedule = {};
  // nullptr: the cost model does not price it, so the selector never picks it by cost (the size
  // thresholds of selection.hpp, BANYAN_ALGO or a tuning table still can).
  CostFormula cost = nullptr;
  RankRule ranks = RankRule::Any;
  // The model leaves it out when every rank shares one host (it still runs there when forced).
  bool pricedAcrossHostsOnly = false;
  // The model leaves it out below this many ranks (it still runs there when forced).
  int pricedFromRanks = 0;
  // false: the schedule works out of place only (a block would be overwritten before it is
  // sent), so the communicator refuses in-place calls of this collective.
  bool inPlace = true;
};

struct AlgorithmRow {
  Algorithm algorithm;
  std::string_view name = {};   // BANYAN_ALGO's, tuning tables' and the logs' spelling
  std::string_view alias = {};  // a second accepted BANYAN_ALGO spelling ("rd"), or ""
  // Moves data in slices, so the network and the cores overlap: preferred on a near-tie
  // across hosts (selector.hpp, kPipelinedPreference).
  bool pipelined = false;
  std::vector<Serves> serves;
};

// Every row, in the order candidates are listed and ties are broken.
const std::vector<AlgorithmRow>& algorithmRegistry();

const AlgorithmRow& rowOf(Algorithm algorithm);

// What `algorithm` does for `collective`, or nullptr when it does not serve it.
const Serves* servesOf(Algorithm algorithm, Collective collective);

// By name or alias, as BANYAN_ALGO spells it.
std::optional<Algorithm> algorithmFromName(std::string_view name);

// The algorithms that serve `collective` (whatever the rank count), in registry order.
std::vector<Algorithm> algorithmsOf(Collective collective);

// algorithmsOf's names, comma-separated ("ring, recursive-halving"), for messages.
std::string algorithmNames(Collective collective);

// The collectives some row prices with a cost formula, in Collective order.
std::vector<Collective> pricedCollectives();

// Whether the rank rule of `serves` admits `size` ranks.
bool admits(const Serves& serves, int size);

// Why `algorithm` cannot run `collective` on `size` ranks, or "" when it can.
std::string unsupportedReason(Collective collective, Algorithm algorithm, int size);

// Why generateSchedule would refuse `request` (not served, no schedule, rank rule, rank or root
// out of range, slice 0), or "" when it fits. For callers that turn the refusal into an error
// value instead of an exception.
std::string scheduleUnfit(Algorithm algorithm, const ScheduleRequest& request);

// This rank's schedule. Throws Error(Internal) with scheduleUnfit's text when the request does
// not fit: the communicator checks what users can get wrong before it gets here.
algorithms::Schedule generateSchedule(Algorithm algorithm, const ScheduleRequest& request);

}  // namespace banyan::tuning
