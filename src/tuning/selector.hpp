#pragma once
// The communicator's algorithm choice: BANYAN_ALGO's bands (or Options::algo) first, then a
// measured table's (BANYAN_TUNE_FILE), then the shared-memory engine for the calls it takes (one host), then, for
// allreduce, allgather, reduce-scatter and broadcast, the cheapest candidate by the cost model
// over the communicator's Topology, and for the other collectives the size thresholds of
// selection.hpp. Every rank holds the same Topology and the same BANYAN_ALGO (it is part of
// the job's environment, or the same code), so every rank chooses the same algorithm for the
// same call without a round of agreement.

#include "common/collective.hpp"
#include "topology/topology.hpp"
#include "tuning/algo_override.hpp"
#include "tuning/selection.hpp"
#include "tuning/tune_table.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace banyan::tuning {

struct Choice {
  Algorithm algorithm = Algorithm::Ring;
  std::optional<double> predictedUs;  // the cost model's figure, when it has one
  std::optional<Algorithm> runnerUp;  // the next cheapest candidate
  std::optional<double> runnerUpUs;
  std::string why;        // for the INFO log and banyan-topo
  bool forced = false;    // a BANYAN_ALGO (Options::algo) band chose it
  bool measured = false;  // a BANYAN_TUNE_FILE band chose it
};

// Which calls the communicator's shared-memory engine (intrahost/shm_collectives.hpp) takes.
using SharedMemoryEngine = std::function<bool(Collective, std::size_t bytes)>;

// Schedules that move data in whole-message rounds (recursive doubling, Rabenseifner, Bruck,
// recursive halving, the binomial tree) are taken over the cheapest pipelined one (a registry
// row marked pipelined: ring, hierarchical, double tree, chain) only when the model predicts them more than this much
// cheaper. Why: in bench/topo.sh (4 hosts x 1 rank, 1 Gbit/s) whole-message rounds took up to 1.7x their predicted time
// from 1 MiB up while the ring took 0.9-1.2x, and near-ties flipped with the probe's noise from run to run; within 10%
// the model cannot tell them apart, and the pipelined schedule is the steadier bet.
// Only for calls whose vector (allreduce, broadcast) or output (allgather; reduce-scatter's
// input) is at least
// kPipelinedPreferenceMinBytes: below one minimum slice (64 KiB) a pipeline pipelines nothing,
// and latency, which the model does price well, decides.
// Only across hosts: the evidence is from rate-limited network links. On one host (4 ranks on
// 2 cores, the shared-memory engine off) the whole-message schedules were the faster ones:
// bench/topo.sh measuring all candidates in the same processes found recursive doubling's
// allgather 1.25-2.2x the ring's speed from 256 KiB to 16 MiB, where the preference had
// picked the ring (bench/RESULTS.md, issue 4 third session).
inline constexpr double kPipelinedPreference = 0.10;
inline constexpr std::size_t kPipelinedPreferenceMinBytes = 64 * 1024;

class Selector {
 public:
  // `bands`: parsed BANYAN_ALGO (or Options::algo: `source` names which, for messages).
  // Throws Error(InvalidUsage) when a band forces an algorithm that cannot run on this
  // topology's rank count.
  Selector(topology::Topology topology, std::vector<Band> bands, std::string source = "BANYAN_ALGO");

  // The rule for one host: a band the user forced runs as written, over the transports when
  // it names a schedule (the user means it); calls no band covers go to the shared-memory
  // engine where it takes them (memory, not messages: docs/shared-memory.md), then to the cost
  // model. A band may also force "shm" itself, for any size of allreduce or allgather.
  // `engine`: empty when the communicator has none, and then `absentWhy` says why ("the
  // communicator spans 2 hosts"); throws Error(InvalidUsage) if a band forces shm regardless.
  void setSharedMemory(SharedMemoryEngine engine, const std::string& absentWhy);

  // A measured table (BANYAN_TUNE_FILE, tune_table.hpp) whose layout matches this topology:
  // its bands come after the user's forced ones and before the shared-memory engine and the
  // model. The caller has checked the layout and that every rank holds the same table. A
  // band naming shm where the engine does not take the call leaves that call to the model.
  void setTable(TuneTable table) { table_ = std::move(table); }

  // Deterministic mode (BANYAN_DETERMINISTIC, docs/numerics.md): allreduce, reduce-scatter and
  // reduce take an algorithm that folds in rank order whatever the bands, the table and the
  // model say: the shared-memory engine for the allreduces it takes (it folds in rank order),
  // else the ordered schedules. The other collectives choose as usual.
  void setDeterministic(bool on) { deterministic_ = on; }
  bool deterministic() const { return deterministic_; }

  Choice choose(Collective collective, std::size_t bytes) const;

  const topology::Topology& topology() const { return topology_; }

 private:
  topology::Topology topology_;
  std::vector<Band> bands_;
  std::string source_;
  SharedMemoryEngine engine_;
  std::optional<TuneTable> table_;
  bool deterministic_ = false;
};

// Whether the collective's result depends on the order in which ranks' data are combined
// (for floating sums; deterministic mode routes every dtype and op of it alike).
bool reducesInOrder(Collective collective);

}  // namespace banyan::tuning
