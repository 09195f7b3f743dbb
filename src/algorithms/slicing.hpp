#pragma once
// How big a pipelined schedule's slices are: the one rule the schedule engine
// (runtime/schedule_engine.cpp) plans every call with and banyan-sim (src/simulate/) simulates.
//
// Terms
//   chunk   what one rank handles at a time: allreduce's vector over the rank count, the whole
//           buffer (as the communicator counts it) for the other collectives.
//   slice   a chunk is cut into about kSlicesPerChunk slices, each at least kMinSliceBytes and at
//           most `maxSliceBytes` (BANYAN_SLICE_BYTES); a two-rank broadcast is one message (slices
//           would pipeline nothing: no rank forwards).

#include <algorithm>
#include <cstddef>

#include "common/collective.hpp"

namespace banyan::algorithms {

inline constexpr std::size_t kSlicesPerChunk = 4;
inline constexpr std::size_t kMinSliceBytes = 64 * 1024;

// The slice, in elements (>= 1), for `count` elements as the communicator counts them.
inline std::size_t sliceElements(Collective collective, int size, std::size_t count, std::size_t elementSize,
                                 std::size_t maxSliceBytes) {
  if (collective == Collective::Broadcast && size == 2) return std::max<std::size_t>(1, count);
  const std::size_t chunkBytes =
      count * elementSize / (collective == Collective::Allreduce ? static_cast<std::size_t>(size) : 1);
  const std::size_t sliceBytes = std::min(maxSliceBytes, std::max(kMinSliceBytes, chunkBytes / kSlicesPerChunk));
  return std::max<std::size_t>(1, sliceBytes / elementSize);
}

}  // namespace banyan::algorithms
