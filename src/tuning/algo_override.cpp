#include "tuning/algo_override.hpp"

#include "common/status.hpp"
#include "config/config.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <sstream>

namespace banyan::tuning {

namespace {

constexpr std::array kCollectives = {Collective::Allreduce, Collective::Allgather, Collective::ReduceScatter,
                                     Collective::Broadcast, Collective::Reduce,    Collective::Gather,
                                     Collective::Scatter,   Collective::Alltoall,  Collective::Barrier};

std::vector<std::string> splitOn(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

std::size_t size(const std::string& text, const std::string& band, const std::string& source) {
  try {
    return config::parseBytes(text, "BANYAN_ALGO size");
  } catch (const Error&) {
    fail(ErrorCode::InvalidUsage, "{}: band '{}': '{}' is not a size (such as 0, 4096, 64K, 4M)", source, band, text);
  }
}

}  // namespace

// The API's name (common/collective.hpp), but for reduce-scatter, which BANYAN_ALGO, tuning
// tables and the tools spell as nccl-tests does.
std::string_view collectiveName(Collective collective) {
  return collective == Collective::ReduceScatter ? "reduce_scatter" : apiName(collective);
}

std::optional<Collective> collectiveFromName(std::string_view name) {
  for (Collective c : kCollectives) {
    if (collectiveName(c) == name) return c;
  }
  return std::nullopt;
}

std::vector<Band> parseAlgoOverride(const std::string& text, const std::string& source) {
  std::vector<Band> bands;
  for (const std::string& rawRule : splitOn(text, ';')) {
    const std::string rule = trim(rawRule);
    if (rule.empty()) continue;
    const auto colon = rule.find(':');
    if (colon == std::string::npos) {
      fail(ErrorCode::InvalidUsage, "{}: rule '{}' needs 'collective:RANGE:ALGORITHM,...'", source, rule);
    }
    const std::string name = trim(rule.substr(0, colon));
    const auto collective = collectiveFromName(name);
    if (!collective) {
      fail(ErrorCode::InvalidUsage,
           "{}: unknown collective '{}' in rule '{}' (known: allreduce, allgather, reduce_scatter, "
           "broadcast, reduce, gather, scatter, alltoall, barrier)",
           source, name, rule);
    }
    for (const std::string& rawBand : splitOn(rule.substr(colon + 1), ',')) {
      const std::string band = trim(rawBand);
      const auto bandColon = band.find(':');
      const auto dash = band.find('-');
      if (bandColon == std::string::npos || dash == std::string::npos || dash > bandColon) {
        fail(ErrorCode::InvalidUsage, "{}: band '{}' of {} needs LOW-HIGH:ALGORITHM or LOW-:ALGORITHM", source, band,
             name);
      }
      Band b{*collective, 0, SIZE_MAX, Algorithm::Ring};
      b.low = size(trim(band.substr(0, dash)), band, source);
      const std::string high = trim(band.substr(dash + 1, bandColon - dash - 1));
      if (!high.empty()) b.high = size(high, band, source);
      if (b.high <= b.low)
        fail(ErrorCode::InvalidUsage, "{}: band '{}' of {} is empty (HIGH <= LOW)", source, band, name);
      const std::string algorithmName = trim(band.substr(bandColon + 1));
      const auto algorithm = algorithmFromName(algorithmName);
      if (!algorithm || !servesOf(*algorithm, *collective)) {
        fail(ErrorCode::InvalidUsage, "{}: band '{}': {} has no algorithm '{}' (it has: {})", source, band, name,
             algorithmName, algorithmNames(*collective));
      }
      b.algorithm = *algorithm;
      for (const Band& other : bands) {
        if (other.collective == b.collective && b.low < other.high && other.low < b.high) {
          fail(ErrorCode::InvalidUsage, "{}: band '{}' of {} overlaps another band of {}", source, band, name, name);
        }
      }
      bands.push_back(b);
    }
  }
  return bands;
}

std::optional<Band> findBand(const std::vector<Band>& bands, Collective collective, std::size_t bytes) {
  for (const Band& band : bands) {
    if (band.collective == collective && bytes >= band.low && bytes < band.high) return band;
  }
  return std::nullopt;
}

}  // namespace banyan::tuning
