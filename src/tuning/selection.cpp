#include "tuning/selection.hpp"

#include <fmt/format.h>

namespace banyan::tuning {

std::string_view toString(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::Ring: return "ring";
    case Algorithm::RecursiveDoubling: return "recursive-doubling";
    case Algorithm::Bruck: return "bruck";
  }
  return "unknown";
}

std::string reason(runtime::Collective collective, int size, std::size_t bytes) {
  switch (choose(collective, size, bytes)) {
    case Algorithm::RecursiveDoubling:
      if (collective == runtime::Collective::Allgather) {
        return fmt::format("power-of-two ranks, output <= {} B: log2(n) rounds, ring's bytes",
                           kRecursiveDoublingAllgatherMaxOutputBytes);
      }
      return fmt::format("message <= {} B: latency-bound, log2(n) exchanges", kRecursiveDoublingMaxBytes);
    case Algorithm::Bruck:
      return fmt::format("output <= {} B on more than 2 ranks: ceil(log2 n) rounds", kBruckMaxOutputBytes);
    case Algorithm::Ring:
      break;
  }
  return size == 1 ? "one rank: a copy" : "bandwidth-bound: pipelined ring";
}

Algorithm choose(runtime::Collective collective, int size, std::size_t bytes) {
  if (collective == runtime::Collective::Allreduce && size > 1 && bytes <= kRecursiveDoublingMaxBytes) {
    return Algorithm::RecursiveDoubling;
  }
  if (collective == runtime::Collective::Allgather && size > 2 &&
      bytes * static_cast<std::size_t>(size) <= kBruckMaxOutputBytes) {
    return Algorithm::Bruck;
  }
  const bool powerOfTwo = (size & (size - 1)) == 0;
  if (collective == runtime::Collective::Allgather && size > 2 && powerOfTwo &&
      bytes * static_cast<std::size_t>(size) <= kRecursiveDoublingAllgatherMaxOutputBytes) {
    return Algorithm::RecursiveDoubling;
  }
  return Algorithm::Ring;
}

}  // namespace banyan::tuning
