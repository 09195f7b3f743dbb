#include "tuning/selection.hpp"

#include <fmt/format.h>

namespace banyan::tuning {

std::string reason(Collective collective, int size, std::size_t bytes) {
  switch (choose(collective, size, bytes)) {
    case Algorithm::RecursiveHalving:
      return fmt::format("power-of-two ranks, input <= {} B (not measured yet): log2(n) rounds",
                         kRecursiveHalvingMaxInputBytes);
    case Algorithm::BinomialTree:
      if (collective == Collective::Gather || collective == Collective::Scatter) {
        return fmt::format("block <= {} B (not measured yet): ceil(log2 n) rounds", kBinomialGatherMaxBlockBytes);
      }
      return fmt::format("message <= {} B (not measured yet): ceil(log2 n) rounds", kTreeMaxBytes);
    case Algorithm::Chain:
      return fmt::format("message > {} B (not measured yet): pipelined chain, each link carries it once",
                         kTreeMaxBytes);
    case Algorithm::Direct:
      return fmt::format("block > {} B (not measured yet): straight to or from the root", kBinomialGatherMaxBlockBytes);
    case Algorithm::Pairwise:
      return "large blocks or 2 ranks: pairwise exchange";
    case Algorithm::Dissemination:
      return "dissemination: ceil(log2 n) rounds";
    case Algorithm::Hierarchical:
      return "two-level: inside hosts, then among host leaders";
    case Algorithm::Rabenseifner:
      return "recursive halving then doubling: the ring's bytes in 2 log2(n) rounds";
    case Algorithm::DoubleTree:
      return "double binary tree: 2 log2(n) pipelined steps, half the data per tree";
    case Algorithm::SharedMemory:
      return "one host: the shared-memory engine";
    case Algorithm::Ordered:
      return "deterministic mode: folded in rank order";
    case Algorithm::BruckDirect:
      return "ceil(log2 n) rounds straight into place";
    case Algorithm::RecursiveDoubling:
      if (collective == Collective::Allgather) {
        return fmt::format("power-of-two ranks, output <= {} B: log2(n) rounds, ring's bytes",
                           kRecursiveDoublingAllgatherMaxOutputBytes);
      }
      return fmt::format("message <= {} B: latency-bound, log2(n) exchanges", kRecursiveDoublingMaxBytes);
    case Algorithm::Bruck:
      if (collective == Collective::Alltoall) {
        return fmt::format("block <= {} B on more than 2 ranks (not measured yet): ceil(log2 n) rounds",
                           kBruckAlltoallMaxBlockBytes);
      }
      return fmt::format("output <= {} B on more than 2 ranks: ceil(log2 n) rounds", kBruckMaxOutputBytes);
    case Algorithm::Ring:
      break;
  }
  return size == 1 ? "one rank: a copy" : "bandwidth-bound: pipelined ring";
}

Algorithm choose(Collective collective, int size, std::size_t bytes) {
  const auto n = static_cast<std::size_t>(size);
  switch (collective) {
    case Collective::Allreduce:
    case Collective::Allgather:
      break;  // measured choices, below
    case Collective::ReduceScatter:
      return size > 1 && (size & (size - 1)) == 0 && bytes * n <= kRecursiveHalvingMaxInputBytes
                 ? Algorithm::RecursiveHalving
                 : Algorithm::Ring;
    case Collective::Broadcast:
    case Collective::Reduce:
      return bytes <= kTreeMaxBytes ? Algorithm::BinomialTree : Algorithm::Chain;
    case Collective::Gather:
    case Collective::Scatter:
      return bytes <= kBinomialGatherMaxBlockBytes ? Algorithm::BinomialTree : Algorithm::Direct;
    case Collective::Alltoall:
      return size > 2 && bytes <= kBruckAlltoallMaxBlockBytes ? Algorithm::Bruck : Algorithm::Pairwise;
    case Collective::Barrier:
      return Algorithm::Dissemination;
    case Collective::Alltoallv:
      return Algorithm::Pairwise;  // block sizes differ per peer; Bruck would pad to the largest
  }
  if (collective == Collective::Allreduce && size > 1 && bytes <= kRecursiveDoublingMaxBytes) {
    return Algorithm::RecursiveDoubling;
  }
  if (collective == Collective::Allgather && size > 2 &&
      bytes * static_cast<std::size_t>(size) <= kBruckMaxOutputBytes) {
    return Algorithm::Bruck;
  }
  const bool powerOfTwo = (size & (size - 1)) == 0;
  if (collective == Collective::Allgather && size > 2 && powerOfTwo &&
      bytes * static_cast<std::size_t>(size) <= kRecursiveDoublingAllgatherMaxOutputBytes) {
    return Algorithm::RecursiveDoubling;
  }
  return Algorithm::Ring;
}

}  // namespace banyan::tuning
