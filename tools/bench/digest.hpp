#pragma once
// Inputs whose sums depend on the order of summation, and a digest of a result buffer: what
// banyan-bench -D 1 and the deterministic-mode tests (tests/multiproc/test_deterministic.cpp)
// use to tell bit-for-bit equal results from merely close ones. Header-only, as bench_data.hpp.

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace banyan::bench {

// splitmix64's finaliser: a well-mixed 64-bit value from any 64-bit input.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Rank `rank`'s input at `index` for `seed`: a random sign, a random 52-bit mantissa in [1, 2)
// and a binary exponent in [-12, 12], so values differ by up to 2^25 in magnitude and every
// addition rounds: a sum over ranks in another order gives other bits (in f32 and f64 alike).
// The same on every run and every machine (no library random engine: their sequences are not
// specified across standard libraries).
inline double mixedValue(std::uint64_t seed, int rank, std::size_t index) {
  const std::uint64_t bits = mix64(mix64(seed ^ (static_cast<std::uint64_t>(rank) << 48)) ^ index);
  const double mantissa = 1.0 + static_cast<double>(bits >> 12) / 4503599627370496.0;  // 2^52
  const int exponent = static_cast<int>((bits >> 4) % 25) - 12;
  return std::ldexp((bits & 1u) != 0 ? -mantissa : mantissa, exponent);
}

// FNV-1a, 64 bits, over `bytes` bytes.
inline std::uint64_t fnv1a64(const void* data, std::size_t bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) hash = (hash ^ p[i]) * 0x100000001b3ull;
  return hash;
}

}  // namespace banyan::bench
