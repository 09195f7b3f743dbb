#pragma once
// BANYAN_ALGO: the user's say over the selector, per collective and size range.
//
//   BANYAN_ALGO="allreduce:0-64K:recursive-doubling,64K-:ring;allgather:0-32K:bruck"
//
// Rules are separated by ';', one per collective; a rule names the collective, then
// comma-separated bands RANGE:ALGORITHM. RANGE is LOW-HIGH (LOW <= bytes < HIGH) or LOW- (no
// upper end), sizes as BANYAN_SLICE_BYTES takes them (65536, 64K, 4M), in the bytes choose()
// counts (allreduce: the whole buffer; allgather: one rank's block). Sizes no band covers are
// left to the cost model. Bands of one collective must not overlap.

#include "common/collective.hpp"
#include "tuning/algorithm_registry.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace banyan::tuning {

struct Band {
  Collective collective;
  std::size_t low = 0;
  std::size_t high = 0;  // exclusive; SIZE_MAX: no upper end
  Algorithm algorithm;
};

// Parses BANYAN_ALGO; throws Error(InvalidUsage) that names `source` (where the text came
// from), quotes the part that is wrong and says what was expected (known collectives, the
// algorithms that collective has).
std::vector<Band> parseAlgoOverride(const std::string& text, const std::string& source = "BANYAN_ALGO");

// The band covering `bytes` of `collective`, if any.
std::optional<Band> findBand(const std::vector<Band>& bands, Collective collective, std::size_t bytes);

// Collective names as BANYAN_ALGO and banyan-topo spell them (algorithm names, and which
// algorithms a collective has, are the registry's: algorithm_registry.hpp).
std::string_view collectiveName(Collective collective);
std::optional<Collective> collectiveFromName(std::string_view name);

}  // namespace banyan::tuning
