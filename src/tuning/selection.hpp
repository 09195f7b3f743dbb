#pragma once
// Which schedule runs a collective of a given shape by size thresholds alone (bench/RESULTS.md
// has the sweeps behind the allreduce and allgather ones). The communicator asks the Selector
// (selector.hpp), which prices allreduce, allgather, reduce-scatter and broadcast with the cost
// model over the probed topology and falls back to these thresholds for the other collectives
// and for one rank. Every rank computes the same answer from the same (size, bytes), so no
// agreement round is needed.

#include "common/collective.hpp"
#include "tuning/algorithm.hpp"

#include <cstddef>
#include <string>

namespace banyan::tuning {

// Allreduce messages up to this size take recursive doubling: its log2(n) whole-vector
// exchanges beat the ring's 2(n-1) latency-bound steps until the extra bytes dominate.
inline constexpr std::size_t kRecursiveDoublingMaxBytes = 16 * 1024;

// Allgathers whose whole output is up to this size take Bruck (ceil(log2 n) rounds) when there
// are more than 2 ranks (with 2, the ring is one step already).
inline constexpr std::size_t kBruckMaxOutputBytes = 32 * 1024;

// Allgathers on a power-of-two rank count above 2 take recursive doubling (log2 n rounds, the
// same bytes as the ring) up to this output size; beyond it the ring's pipelined slices win
// (4 ranks on 2 cores: RD 1.2-1.7x the ring's busbw from 64 KiB to 4 MiB, equal at 16 MiB,
// 0.8x at 64 MiB).
inline constexpr std::size_t kRecursiveDoublingAllgatherMaxOutputBytes = 4 * 1024 * 1024;

// The thresholds below, for the collectives beyond allreduce and allgather, are NOT measured
// yet: they are the textbook latency/bandwidth crossovers, set where a whole message is about
// one slice (64 KiB). bench/ has no driver for these collectives so far; replace them with
// swept values once it does.

// Broadcast and reduce up to this many bytes take the binomial tree (ceil(log2 n) rounds of
// the whole message); larger ones the pipelined chain (each link carries the data once).
inline constexpr std::size_t kTreeMaxBytes = 64 * 1024;

// Reduce-scatters on a power-of-two rank count whose whole input (size * block) is up to this
// size take recursive halving (log2 n rounds); otherwise the ring.
inline constexpr std::size_t kRecursiveHalvingMaxInputBytes = 64 * 1024;

// Gathers and scatters whose blocks are up to this size take the binomial tree (blocks
// forwarded through inner ranks in log2 n rounds); larger blocks go straight to or from the
// root, whose link is the bottleneck either way.
inline constexpr std::size_t kBinomialGatherMaxBlockBytes = 16 * 1024;

// Alltoalls on more than 2 ranks whose per-peer blocks are up to this size take Bruck
// (ceil(log2 n) rounds, each block moved about log2(n) / 2 times); larger blocks pairwise.
inline constexpr std::size_t kBruckAlltoallMaxBlockBytes = 1024;

// `bytes`: the caller's buffer size (allreduce, broadcast, reduce: count elements; allgather,
// gather, scatter: one rank's block; reduce-scatter: the received block; alltoall: one peer's
// block; barrier: 0).
Algorithm choose(Collective collective, int size, std::size_t bytes);

// Why choose() picked what it did, for the INFO log ("message <= 16384 B: ...").
std::string reason(Collective collective, int size, std::size_t bytes);

}  // namespace banyan::tuning
