#include "tuning/selection.hpp"

namespace banyan::tuning {

std::string_view toString(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::Ring: return "ring";
    case Algorithm::RecursiveDoubling: return "recursive-doubling";
    case Algorithm::Bruck: return "bruck";
  }
  return "unknown";
}

Algorithm choose(runtime::Collective collective, int size, std::size_t bytes) {
  if (collective == runtime::Collective::Allreduce && size > 1 && bytes <= kRecursiveDoublingMaxBytes) {
    return Algorithm::RecursiveDoubling;
  }
  if (collective == runtime::Collective::Allgather && size > 2 &&
      bytes * static_cast<std::size_t>(size) <= kBruckMaxOutputBytes) {
    return Algorithm::Bruck;
  }
  return Algorithm::Ring;
}

}  // namespace banyan::tuning
