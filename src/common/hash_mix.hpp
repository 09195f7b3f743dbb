#pragma once
// Folds small integers into one 64-bit word, for the checks that ranks are in the same call
// (runtime/call_text.cpp callFingerprint, the shared-memory collectives' callSummary). Every rank of a
// job runs the same build, so the value only has to be the same for the same inputs on every
// rank and differ for different ones; it is no stable format and no defence against forgery.
// The step is boost::hash_combine's, with the 64-bit golden-ratio constant; each field moves
// every later step, so the order of add() calls matters.

#include <cstdint>

namespace banyan {

class HashMix {
 public:
  constexpr HashMix& add(std::uint64_t value) {
    h_ ^= value + kGolden + (h_ << 6) + (h_ >> 2);
    return *this;
  }
  constexpr std::uint64_t value() const { return h_; }

 private:
  static constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;
  std::uint64_t h_ = kGolden;
};

// Scrambles one 64-bit word so that nearby inputs give unrelated outputs (the SplitMix64
// finalizer): the symbolic checker's per-(rank, element) contributions, whose sums must not
// collide. HashMix folds many fields in order; this spreads one.
constexpr std::uint64_t splitMix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace banyan
