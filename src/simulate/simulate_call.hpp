#pragma once
// One collective call, simulated: every rank's schedule from the algorithm registry's generator
// (tuning/algorithm_registry.hpp), sliced as the schedule engine slices it
// (algorithms/slicing.hpp), run by EventSimulation (event_simulation.hpp) on a Cluster.
//
// Terms
//   symmetry  before running every rank, the call tries to run host 0's ranks alone: it asks
//             the generator for host 0's schedules and for those of sampled other hosts (the
//             second, the last, the middle one and a few spread between) and requires each
//             sampled schedule to be host 0's, step for step (kind, byte count, dependencies),
//             with peers relabelled by the host map (rotation, then xor). A schedule whose
//             blocks differ in size from rank to rank (a count the rank count does not divide)
//             or that has a root fails the check and runs whole.
//   budget    a whole run keeps about 50 bytes per step of every rank; a call whose steps
//             exceed `maxSteps` is not run (outcome says so) rather than exhaust the machine.
//             Host 0's step counts times the hosts estimate it before every rank is generated,
//             and the time host 0's schedules took to generate, times the hosts, is held to
//             `maxGenerateSeconds` (generators are O(ranks) per rank, so a whole run of a
//             sparse call can cost minutes at 64k ranks with few steps). The one reading of a
//             clock in this folder: the refusal, not the simulated time, depends on the machine.

#include <cstddef>
#include <string>

#include "common/collective.hpp"
#include "simulate/cluster.hpp"
#include "simulate/event_simulation.hpp"
#include "tuning/algorithm.hpp"

namespace banyan::simulate {

struct Call {
  Collective collective = Collective::Allreduce;
  tuning::Algorithm algorithm = tuning::Algorithm::Ring;
  std::size_t count = 0;  // elements, as the communicator counts them (allgather: one rank's block)
  std::size_t elementSize = 4;
  int root = 0;
  std::size_t maxSliceBytes = 1024 * 1024;  // BANYAN_SLICE_BYTES's default
  int calls = 1;  // back to back, as a benchmark's loop makes them (EventSimulation's "calls")
};

struct SimulateOptions {
  std::size_t maxSteps = 40'000'000;
  double maxGenerateSeconds = 30;
  bool useSymmetry = true;  // false: every rank, always (to check the symmetric runs)
  int sampledHosts = 6;
};

struct Outcome {
  bool ran = false;
  std::string why;  // when not ran: the rank rule, no schedule, over the budget, a bad schedule
  double us = 0;
  Symmetry symmetry = Symmetry::None;
  int simulatedRanks = 0;
  std::size_t steps = 0;
};

Outcome simulateCall(const Cluster& cluster, const Call& call, const SimulateOptions& options = {});

}  // namespace banyan::simulate
