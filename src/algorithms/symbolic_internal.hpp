#pragma once
// What the parts of the symbolic checker share (symbolic.cpp drives them): the symbolic value,
// places in physical buffers, and the Setup built once per check. Terms are defined at the top
// of symbolic.cpp.

#include "algorithms/symbolic.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

namespace banyan::algorithms::symbolic {

constexpr std::uint32_t kNone = 0xffffffffu;

enum class Collective { Allreduce, Allgather };

struct Value {
  std::uint64_t hash = 0;     // sum of contribution hashes
  std::int32_t element = -1;  // element index shared by all contributions, -1 if mixed
  std::uint16_t terms = 0;    // number of contributions
  bool defined = false;
  bool finalized = false;
};

inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline std::uint64_t contribution(int rank, std::size_t element) {
  return mix((static_cast<std::uint64_t>(rank) << 40) ^ static_cast<std::uint64_t>(element));
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

inline const char* placeBufferName(int buffer) {
  return buffer == 0 ? "in" : buffer == 1 ? "out" : "scr";
}

// Everything about one check that does not change between variants and seeds.
struct Setup {
  Collective collective = Collective::Allreduce;
  int size = 0;
  std::size_t count = 0;
  std::vector<Schedule> schedules;
  // Per rank and peer, the step indices of the Sends to / Recvs from that peer, in order.
  std::vector<std::vector<std::vector<std::uint32_t>>> sends, recvs;
  // Per rank and step: which message of its (peer, direction) the step is; and the steps that
  // depend on it (CSR).
  std::vector<std::vector<std::uint32_t>> messageIndex;
  std::vector<std::vector<std::uint32_t>> dependentsBegin, dependents;
  // Allreduce: per element, the hash of the full reduction {(r, i) for every r}.
  std::vector<std::uint64_t> fullHash;

  std::size_t inputCount() const { return count; }
  std::size_t outputCount() const {
    return collective == Collective::Allgather ? count * static_cast<std::size_t>(size) : count;
  }
  std::size_t inputBase(int rank) const {
    return collective == Collective::Allgather ? count * static_cast<std::size_t>(rank) : 0;
  }
  std::size_t bufferCount(int rank, BufferId buffer) const {
    switch (buffer) {
      case BufferId::Input: return inputCount();
      case BufferId::Output: return outputCount();
      case BufferId::Scratch: return schedules[static_cast<std::size_t>(rank)].scratchCount;
    }
    return 0;
  }
  Place place(int rank, const Span& span, bool inPlace) const {
    if (span.buffer == BufferId::Input && inPlace) {
      return Place{1, span.offset + inputBase(rank), span.count};
    }
    return Place{static_cast<int>(span.buffer), span.offset, span.count};
  }
  const Step& step(int rank, std::uint32_t index) const {
    return schedules[static_cast<std::size_t>(rank)].steps[index];
  }
  std::string where(int rank, std::uint32_t index) const {
    return fmt::format("rank {}, {}", rank, describeStep(step(rank, index), index));
  }
};

// 1 + 2: each schedule on its own, then message matching. Fills the Setup's indexes.
std::string checkEachSchedule(Setup& setup);
// 3a: operand overlap and data races of one rank in one variant ("" when clean). With
// `races` false only the operand overlap is checked.
std::string checkRaces(const Setup& setup, int rank, bool inPlace, bool races);
// 3b: one simulation in a random valid order.
std::string simulate(const Setup& setup, bool inPlace, std::uint64_t seed);

}  // namespace banyan::algorithms::symbolic
