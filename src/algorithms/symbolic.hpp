#pragma once
// Symbolic checking of collective schedules: runs the schedules of all ranks of one collective
// against each other in one process, on symbolic data, and reports the first defect.
//
// Values are multisets of contributions (rank, element): element i of rank r's Input starts as
// {(r, i)}; a Reduce takes the union of its operands; Send/Recv/Copy move values. (Internally a
// multiset is kept as a sum of 64-bit hashes plus a term count, so a duplicated or missing
// contribution always shows.) A value also carries a "finalized" mark, set by a Reduce with
// finalize = true; such a Reduce must produce the full reduction, the Reduce that completes a
// reduction must be marked finalize (so it happens on the rank that first holds the full
// value), and finalized data must not be reduced again: every element is finalized exactly
// once along its way to each Output.
//
// What is checked, in this order (the first failure is returned):
//   1. each schedule on its own: deps point to earlier steps, peers are other valid ranks, spans
//      are non-empty and within Input / Output / Scratch (scratchCount), operand lengths agree;
//   2. messages between each ordered pair of ranks match one to one, in order and in length;
//   3. for the out-of-place and the in-place variant (in place, Input is the same memory as
//      Output for allreduce and as Output block `rank` for allgather):
//      - Reduce / Copy destinations are either exactly an operand or disjoint from it;
//      - no data race inside a rank: two steps that touch overlapping elements of one buffer,
//        at least one of them writing, must be ordered by the transitive closure of deps
//        (a Copy whose source is its destination is a no-op and touches nothing);
//      - a simulation in a random valid order (one per seed) finishes without deadlock, never
//        reads uninitialized data, finalizes only full reductions, and leaves the expected
//        Output on every rank: allreduce element i = {(r, i) for every r}, finalized when
//        size > 1; allgather block j element i = {(j, i)}.
//
// The simulation is stricter than any transport: a Step runs only when its deps are done; Sends
// to one peer start, and Recvs from one peer are posted, in step-index order (as the executor
// posts them); a Send's data is captured when it starts; a Send and its matching Recv complete
// together, once both have started (rendezvous), so schedules that would only work with
// buffered sends are reported as deadlocks.

#include "algorithms/schedule.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace banyan::algorithms {

struct CheckOptions {
  std::uint64_t seed = 1;   // seed of the first simulation; later ones use seed + 1, ...
  int runs = 2;             // simulations per variant (random execution orders)
  bool outOfPlace = true;   // check the out-of-place variant
  bool inPlace = true;      // check the in-place variant
  bool races = true;        // run the data-race check
};

// Returns "" when the schedules of ranks 0..size-1 (make(rank)) compute the allreduce of
// `count` elements, else a description of the first defect (variant, rank, step, what).
std::string checkAllreduce(int size, std::size_t count,
                           const std::function<Schedule(int rank)>& make,
                           const CheckOptions& options = {});

// The same for allgather of `count` elements per rank (Output holds size * count).
std::string checkAllgather(int size, std::size_t count,
                           const std::function<Schedule(int rank)>& make,
                           const CheckOptions& options = {});

}  // namespace banyan::algorithms
