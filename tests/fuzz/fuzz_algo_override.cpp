// BANYAN_ALGO: the user's algorithm choices per collective and size band
// (src/tuning/algo_override.hpp). Properties: bad text raises banyan::Error and nothing else;
// accepted bands are well formed (low < high) and the bands of one collective do not overlap,
// so findBand answers every size with at most one band.

#include "tuning/algo_override.hpp"

#include "fuzz_check.hpp"

#include <banyan/error.hpp>

#include <string>

using namespace banyan;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<tuning::Band> bands;
  try {
    bands = tuning::parseAlgoOverride(text);
  } catch (const Error&) {
    return 0;
  }
  for (std::size_t i = 0; i < bands.size(); ++i) {
    FUZZ_CHECK(bands[i].low < bands[i].high);
    for (std::size_t j = i + 1; j < bands.size(); ++j) {
      if (bands[i].collective != bands[j].collective) continue;
      FUZZ_CHECK(bands[i].high <= bands[j].low || bands[j].high <= bands[i].low);
    }
    // The band's own low end is found, and found as this band.
    const auto found = tuning::findBand(bands, bands[i].collective, bands[i].low);
    FUZZ_CHECK(found.has_value() && found->low == bands[i].low && found->algorithm == bands[i].algorithm);
  }
  return 0;
}
