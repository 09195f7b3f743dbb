#pragma once
// What the parts of the symbolic checker share (symbolic.cpp drives them): the symbolic value,
// places in physical buffers, and the Setup built once per check. Terms are defined at the top
// of symbolic.cpp; what each collective means (buffer sizes, in-place aliasing, expected
// Output) is built in symbolic_collectives.cpp.

#include "common/collective.hpp"
#include "common/hash_mix.hpp"
#include "symbolic/symbolic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace banyan::algorithms::symbolic {

constexpr std::uint32_t kNone = 0xffffffffu;

struct Value {
  std::uint64_t hash = 0;     // sum of contribution hashes
  std::int32_t element = -1;  // element index shared by all contributions, -1 if mixed
  std::uint16_t terms = 0;    // number of contributions
  bool defined = false;
  bool finalized = false;
};

inline std::uint64_t contribution(int rank, std::size_t element) {
  return splitMix64((static_cast<std::uint64_t>(rank) << 40) ^ static_cast<std::uint64_t>(element));
}

struct Place {
  int buffer = 0;  // 0 Input, 1 Output, 2 Scratch (physical)
  std::size_t offset = 0;
  std::size_t count = 0;
};

inline bool overlaps(const Place& x, const Place& y) {
  return x.buffer == y.buffer && x.offset < y.offset + y.count && y.offset < x.offset + x.count;
}

inline bool same(const Place& x, const Place& y) {
  return x.buffer == y.buffer && x.offset == y.offset && x.count == y.count;
}

inline const char* placeBufferName(int buffer) { return buffer == 0 ? "in" : buffer == 1 ? "out" : "scr"; }

// The buffers of one rank. In the in-place variant, on a rank where `aliased` is set, Input and
// Output are views of one physical buffer (physical buffer 1): Input starts at inputBase in it
// and Output at outputBase. Elsewhere Input, Output and Scratch are physical buffers 0, 1, 2.
struct RankLayout {
  std::size_t inputCount = 0;
  std::size_t outputCount = 0;
  bool aliased = false;
  std::size_t inputBase = 0;
  std::size_t outputBase = 0;

  std::size_t sharedCount() const { return std::max(inputBase + inputCount, outputBase + outputCount); }
};

// What one Output element must hold at the end.
struct Expected {
  enum class Kind : std::uint8_t {
    Untouched,  // never written (a gap between alltoallv blocks)
    Element,    // {(rank, element)}: one input element, moved
    Reduction,  // full(element), finalized when size > 1
  };
  Kind kind = Kind::Untouched;
  int rank = 0;
  std::size_t element = 0;
};

// Everything about one check that does not change between variants and seeds.
struct Setup {
  Collective collective = Collective::Allreduce;
  int size = 0;
  std::size_t count = 0;
  int root = 0;               // rooted collectives
  AlltoallvLayout alltoallv;  // alltoallv, with offsets filled in
  bool hasInPlace = true;     // whether the collective has an in-place variant
  bool scratchStartsDefined = false;
  std::vector<RankLayout> layouts;
  std::vector<Schedule> schedules;
  // Per rank and peer, the step indices of the Sends to / Recvs from that peer, in order.
  std::vector<std::vector<std::vector<std::uint32_t>>> sends, recvs;
  // Per rank and step: which message of its (peer, direction) the step is; and the steps that
  // depend on it (CSR).
  std::vector<std::vector<std::uint32_t>> messageIndex;
  std::vector<std::vector<std::uint32_t>> dependentsBegin, dependents;
  // Reductions: per input element i, the hash of full(i).
  std::vector<std::uint64_t> fullHash;
  // Alltoallv: per rank and Output element, the peer whose block covers it, or -1.
  std::vector<std::vector<std::int32_t>> outputOwner;

  const RankLayout& layout(int rank) const { return layouts[static_cast<std::size_t>(rank)]; }
  std::size_t inputCount(int rank) const { return layout(rank).inputCount; }
  std::size_t outputCount(int rank) const { return layout(rank).outputCount; }
  std::size_t bufferCount(int rank, BufferId buffer) const {
    switch (buffer) {
      case BufferId::Input:
        return inputCount(rank);
      case BufferId::Output:
        return outputCount(rank);
      case BufferId::Scratch:
        return schedules[static_cast<std::size_t>(rank)].scratchCount;
    }
    return 0;
  }
  bool shares(int rank, bool inPlace) const { return inPlace && layout(rank).aliased; }
  // Elements of physical buffer 0, 1 or 2 of a rank in a variant.
  std::size_t physicalCount(int rank, int buffer, bool inPlace) const {
    const RankLayout& l = layout(rank);
    switch (buffer) {
      case 0:
        return shares(rank, inPlace) ? 0 : l.inputCount;
      case 1:
        return shares(rank, inPlace) ? l.sharedCount() : l.outputCount;
      default:
        return schedules[static_cast<std::size_t>(rank)].scratchCount;
    }
  }
  Place place(int rank, const Span& span, bool inPlace) const {
    if (shares(rank, inPlace) && span.buffer != BufferId::Scratch) {
      const RankLayout& l = layout(rank);
      const std::size_t base = span.buffer == BufferId::Input ? l.inputBase : l.outputBase;
      return Place{1, span.offset + base, span.count};
    }
    return Place{static_cast<int>(span.buffer), span.offset, span.count};
  }
  const Step& step(int rank, std::uint32_t index) const {
    return schedules[static_cast<std::size_t>(rank)].steps[index];
  }
  std::string where(int rank, std::uint32_t index) const {
    return fmt::format("rank {}, {}", rank, describeStep(step(rank, index), index));
  }
  // What Output element e of `rank` must hold (symbolic_collectives.cpp).
  Expected expected(int rank, std::size_t e) const;
};

// Builds the layouts, expected values and flags of a collective ("" or why the arguments are
// invalid, e.g. a root out of range). Schedules are added by the caller.
std::string describeCollective(Setup& setup);

// 1 + 2: each schedule on its own, then message matching. Fills the Setup's indexes.
std::string checkEachSchedule(Setup& setup);
// 3a: operand overlap and data races of one rank in one variant ("" when clean). With
// `races` false only the operand overlap is checked.
std::string checkRaces(const Setup& setup, int rank, bool inPlace, bool races);
// 3b: one simulation in a random valid order.
std::string simulate(const Setup& setup, bool inPlace, std::uint64_t seed);
// 4: barrier ordering (after the simulations have shown that the schedules run).
std::string checkBarrierOrdering(const Setup& setup);

}  // namespace banyan::algorithms::symbolic
