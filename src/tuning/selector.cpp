#include "tuning/selector.hpp"

#include "common/status.hpp"
#include "tuning/cost_model.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace banyan::tuning {

Selector::Selector(topology::Topology topology, std::vector<Band> bands, std::string source)
    : topology_(std::move(topology)), bands_(std::move(bands)), source_(std::move(source)) {
  for (const Band& band : bands_) {
    if (const std::string why = unsupportedReason(band.collective, band.algorithm, topology_.size); !why.empty()) {
      fail(ErrorCode::InvalidUsage, "{} forces {} for {}: {}", source_, toString(band.algorithm),
           collectiveName(band.collective), why);
    }
  }
}

void Selector::setSharedMemory(SharedMemoryEngine engine, const std::string& absentWhy) {
  if (!engine) {
    for (const Band& band : bands_) {
      if (band.algorithm == Algorithm::SharedMemory) {
        fail(ErrorCode::InvalidUsage, "{} forces shm for {}: this communicator has no shared-memory engine ({})",
             source_, collectiveName(band.collective), absentWhy);
      }
    }
  }
  engine_ = std::move(engine);
}

bool reducesInOrder(Collective collective) {
  return collective == Collective::Allreduce || collective == Collective::ReduceScatter ||
         collective == Collective::Reduce;
}

Choice Selector::choose(Collective collective, std::size_t bytes) const {
  Choice choice;
  if (deterministic_ && reducesInOrder(collective)) {
    // Short strings (in std::string's own buffer): this runs on every such call.
    const bool engine = collective == Collective::Allreduce && engine_ && engine_(collective, bytes);
    choice.algorithm = engine ? Algorithm::SharedMemory : Algorithm::Ordered;
    choice.why = "deterministic";
    return choice;
  }
  if (const auto band = findBand(bands_, collective, bytes)) {
    choice.algorithm = band->algorithm;
    choice.forced = true;
    choice.predictedUs = predictUs(topology_, collective, band->algorithm, bytes);
    choice.why = band->high == SIZE_MAX ? fmt::format("{} band {}- B", source_, band->low)
                                        : fmt::format("{} band {}-{} B", source_, band->low, band->high);
    return choice;
  }
  if (const TuneEntry* entry = table_ ? table_->find(collective, bytes) : nullptr) {
    if (entry->band.algorithm != Algorithm::SharedMemory || (engine_ && engine_(collective, bytes))) {
      choice.algorithm = entry->band.algorithm;
      choice.measured = true;
      if (choice.algorithm != Algorithm::SharedMemory)
        choice.predictedUs = predictUs(topology_, collective, choice.algorithm, bytes);
      // Short, as the engine's: shm calls from a table must not allocate either. The file's
      // path is in the INFO line the communicator logs when it loads the table.
      choice.why = fmt::format("table line {}", entry->line);
      return choice;
    }
  }
  if (engine_ && engine_(collective, bytes)) {
    choice.algorithm = Algorithm::SharedMemory;
    // Short enough for std::string's in-place buffer: this path runs on every small call on
    // one host, where a heap allocation would be a measurable part of the call.
    choice.why = "one host";
    return choice;
  }
  // Candidates the cost model can price, cheapest first; ties keep algorithmsOf()'s order.
  std::vector<std::pair<double, Algorithm>> priced;
  for (Algorithm a : algorithmsOf(collective)) {
    if (!unsupportedReason(collective, a, topology_.size).empty()) continue;
    if (const auto us = predictUs(topology_, collective, a, bytes)) priced.emplace_back(*us, a);
  }
  std::stable_sort(priced.begin(), priced.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  const auto pipelined = [](Algorithm a) { return rowOf(a).pipelined; };
  std::string preferred;
  const std::size_t moved = collective == Collective::Allgather || collective == Collective::ReduceScatter
                                ? bytes * static_cast<std::size_t>(topology_.size)
                                : bytes;
  if (!priced.empty() && !pipelined(priced[0].second) && moved >= kPipelinedPreferenceMinBytes &&
      topology_.hostCount() > 1) {
    const auto it = std::find_if(priced.begin(), priced.end(), [&](const auto& p) { return pipelined(p.second); });
    if (it != priced.end() && it->first <= priced[0].first * (1 + kPipelinedPreference)) {
      preferred =
          fmt::format(" (pipelined, within {:.0f}% of {})", kPipelinedPreference * 100, toString(priced[0].second));
      std::rotate(priced.begin(), it, it + 1);  // it first, the rest in order
    }
  }
  if (topology_.size == 1 || priced.empty()) {
    choice.algorithm = tuning::choose(collective, topology_.size, bytes);
    choice.why = reason(collective, topology_.size, bytes);
    return choice;
  }
  choice.algorithm = priced[0].second;
  choice.predictedUs = priced[0].first;
  if (priced.size() > 1) {
    choice.runnerUp = priced[1].second;
    choice.runnerUpUs = priced[1].first;
    choice.why = fmt::format("cost model: {:.1f} us predicted{}, runner-up {} {:.1f} us", priced[0].first, preferred,
                             toString(priced[1].second), priced[1].first);
  } else {
    choice.why = fmt::format("cost model: {:.1f} us predicted, the only candidate", priced[0].first);
  }
  return choice;
}

}  // namespace banyan::tuning
