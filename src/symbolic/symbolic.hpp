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
//      are non-empty and within Input / Output / Scratch (scratchCount, and the buffer sizes of
//      the collective on that rank, which may be 0: e.g. Output off the root of a reduce),
//      operand lengths agree, and nothing writes Input (the caller's send buffer is read-only;
//      in place, results reach the shared memory only through Output spans);
//   2. messages between each ordered pair of ranks match one to one, in order and in length;
//   3. for the out-of-place and, where the collective has one, the in-place variant (Input and
//      Output are one buffer; where each lies in it is listed below):
//      - Reduce / Copy destinations are either exactly an operand or disjoint from it;
//      - no data race inside a rank: two steps that touch overlapping elements of one buffer,
//        at least one of them writing, must be ordered by the transitive closure of deps
//        (a Copy whose source is its destination is a no-op and touches nothing);
//      - a simulation in a random valid order (one per seed) finishes without deadlock, never
//        reads uninitialized data, finalizes only full reductions, and leaves the expected
//        Output on every rank (below); Output elements that no block covers (gaps between
//        alltoallv blocks) must stay unwritten;
//   4. barrier only: every rank's last step happens after the first step of every other rank
//      (symbolic_barrier.cpp says how that is derived from deps and messages alone).
//
// The collectives, with "full(i)" = {(r, i) for every rank r}, finalized when size > 1:
//   allreduce       Input count, Output count: element i = full(i).     In place: same memory.
//   allgather       Input count, Output size * count: block j element i = {(j, i)}.
//                   In place: Input is Output block `rank`.
//   reduce-scatter  Input size * count, Output count: element i = full(rank * count + i).
//                   In place: Output is Input block `rank` (the caller's buffer holds size *
//                   count elements and the result lands in the rank's own block, as NCCL's
//                   recvbuff == sendbuff + rank * count); the other blocks stay as they were.
//   broadcast(root) Input count on the root only, Output count everywhere: element i =
//                   {(root, i)}. In place: the root's Input is its Output.
//   reduce(root)    Input count everywhere, Output count on the root only: full(i).
//                   In place: the root's Input is its Output.
//   gather(root)    Input count everywhere, Output size * count on the root only: block j
//                   element i = {(j, i)}. In place: the root's Input is its Output block root.
//   scatter(root)   Input size * count on the root only, Output count everywhere: element i =
//                   {(root, rank * count + i)}. In place: the root's Output is its Input block
//                   root.
//   alltoall        Input and Output size * count: Output block j element i = {(j, rank *
//                   count + i)}. In place: same memory.
//   alltoallv       per AlltoallvLayout: Output block from p element i = {(p, sendOffset[p][rank]
//                   + i)}. No in-place variant: MPI's in-place alltoallv needs symmetric
//                   counts, and a caller that wants it can copy the input aside.
//   barrier         no Input or Output. Scratch starts defined: a token carries no data, so a
//                   barrier may send Scratch it never wrote. No in-place variant.
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
#include <vector>

namespace banyan::algorithms {

struct CheckOptions {
  std::uint64_t seed = 1;  // seed of the first simulation; later ones use seed + 1, ...
  int runs = 2;            // simulations per variant (random execution orders)
  bool outOfPlace = true;  // check the out-of-place variant
  bool inPlace = true;     // check the in-place variant (where the collective has one)
  bool races = true;       // run the data-race check
};

using ScheduleMaker = std::function<Schedule(int rank)>;

// Each returns "" when the schedules of ranks 0..size-1 (make(rank)) compute the collective,
// else a description of the first defect (variant, rank, step, what). Buffer sizes and the
// expected results are listed above; `count` is the per-rank block everywhere.
std::string checkAllreduce(int size, std::size_t count, const ScheduleMaker& make, const CheckOptions& options = {});
std::string checkAllgather(int size, std::size_t count, const ScheduleMaker& make, const CheckOptions& options = {});
std::string checkReduceScatter(int size, std::size_t count, const ScheduleMaker& make,
                               const CheckOptions& options = {});
std::string checkBroadcast(int size, int root, std::size_t count, const ScheduleMaker& make,
                           const CheckOptions& options = {});
std::string checkReduce(int size, int root, std::size_t count, const ScheduleMaker& make,
                        const CheckOptions& options = {});
std::string checkGather(int size, int root, std::size_t count, const ScheduleMaker& make,
                        const CheckOptions& options = {});
std::string checkScatter(int size, int root, std::size_t count, const ScheduleMaker& make,
                         const CheckOptions& options = {});
std::string checkAlltoall(int size, std::size_t count, const ScheduleMaker& make, const CheckOptions& options = {});

// Who sends how much to whom in an alltoallv, and where the blocks lie. size = counts.size().
struct AlltoallvLayout {
  // counts[r][p]: elements rank r sends to rank p (so rank p receives them from r).
  std::vector<std::vector<std::size_t>> counts;
  // sendOffsets[r][p]: where the block for p starts in r's Input; recvOffsets[r][p]: where the
  // block from p starts in r's Output. Left empty, blocks are packed in peer order. Send blocks
  // may overlap (they are only read); receive blocks must not.
  std::vector<std::vector<std::size_t>> sendOffsets;
  std::vector<std::vector<std::size_t>> recvOffsets;
};

// Input of rank r ends at the end of its furthest send block, Output at its furthest receive
// block.
std::string checkAlltoallv(const AlltoallvLayout& layout, const ScheduleMaker& make, const CheckOptions& options = {});

// A barrier moves no data; see item 4 above.
std::string checkBarrier(int size, const ScheduleMaker& make, const CheckOptions& options = {});

}  // namespace banyan::algorithms
