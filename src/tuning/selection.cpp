#include "tuning/selection.hpp"

namespace banyan::tuning {

std::string_view toString(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::Ring: return "ring";
    case Algorithm::RecursiveDoubling: return "recursive-doubling";
  }
  return "unknown";
}

Algorithm choose(runtime::Collective collective, int size, std::size_t bytes) {
  if (collective == runtime::Collective::Allreduce && size > 1 && bytes <= kRecursiveDoublingMaxBytes) {
    return Algorithm::RecursiveDoubling;
  }
  return Algorithm::Ring;
}

}  // namespace banyan::tuning
