#pragma once
// Portable bit-level conversions between f32 and the two 16-bit float formats (IEEE binary16
// "half" and bfloat16). Inline so the scalar reduction loops can fold them in; reduce.cpp
// exposes them through the out-of-line functions declared in reduce.hpp.
//
// The half conversions reproduce the F16C instructions (vcvtph2ps / vcvtps2ph with
// round-to-nearest-even) bit for bit, including NaN handling: a NaN keeps its sign and top
// payload bits and comes out quiet. That is what lets the F16C and scalar kernels be
// interchangeable, and the unit tests check it.

#include <bit>
#include <cstdint>

namespace banyan::reduce::detail {

inline constexpr std::uint32_t kF32SignMask = 0x8000'0000u;
inline constexpr std::uint32_t kF32ExpMask = 0x7F80'0000u;
inline constexpr std::uint32_t kF32QuietBit = 0x0040'0000u;
inline constexpr std::uint16_t kHalfExpMask = 0x7C00u;
inline constexpr std::uint16_t kHalfQuietBit = 0x0200u;

inline float halfBitsToFloat(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) {
    // Inf keeps a zero mantissa; NaN keeps its payload and is quietened, as F16C does.
    const std::uint32_t quiet = mant != 0 ? kF32QuietBit : 0u;
    return std::bit_cast<float>(sign | kF32ExpMask | quiet | (mant << 13));
  }
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24 is exact in f32, so let the FPU normalise it.
    // (Only small integers and a power of two are involved, so DAZ/FTZ cannot interfere.)
    const float magnitude = static_cast<float>(mant) * 0x1p-24f;
    return std::bit_cast<float>(sign | std::bit_cast<std::uint32_t>(magnitude));
  }
  // Normal: rebias the exponent from 15 to 127.
  return std::bit_cast<float>(sign | ((exp + (127 - 15)) << 23) | (mant << 13));
}

inline std::uint16_t floatToHalfBits(float f) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t abs = bits & ~kF32SignMask;

  if (abs >= kF32ExpMask) {
    if (abs == kF32ExpMask) return static_cast<std::uint16_t>(sign | kHalfExpMask);
    // NaN: keep the top ten payload bits and force quiet, so the payload never collapses
    // to zero (which would turn the NaN into an infinity).
    return static_cast<std::uint16_t>(sign | kHalfExpMask | kHalfQuietBit | ((abs >> 13) & 0x3FFu));
  }
  // 65520 is exactly halfway between 65504 (largest half, odd mantissa) and 65536, so the
  // tie rounds to even, i.e. up to infinity; everything from there up overflows.
  if (abs >= 0x477F'F000u) return static_cast<std::uint16_t>(sign | kHalfExpMask);

  if (abs < 0x3880'0000u) {
    // Below 2^-14 the result is subnormal (or zero). Adding 0.5f puts the value's
    // 2^-24 multiples in the low mantissa bits of the sum, and the FPU's own
    // round-to-nearest-even does the rounding. A result of 0x400 is the smallest normal,
    // which is also the right encoding.
    const float shifted = std::bit_cast<float>(abs) + 0.5f;
    const std::uint32_t mant = std::bit_cast<std::uint32_t>(shifted) - 0x3F00'0000u;
    return static_cast<std::uint16_t>(sign | mant);
  }
  // Normal: round the 13 dropped bits to nearest even, then rebias. A carry out of the
  // mantissa correctly bumps the exponent.
  const std::uint32_t roundedUp = abs + 0x0FFFu + ((abs >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | ((roundedUp >> 13) - ((127 - 15) << 10)));
}

inline float bfloat16BitsToFloat(std::uint16_t h) noexcept {
  // bfloat16 is the top half of an f32, so widening is exact and needs no special cases.
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

inline std::uint16_t floatToBfloat16Bits(float f) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  // Signed compare on the magnitude is cheap to vectorise without AVX-512.
  const auto abs = static_cast<std::int32_t>(bits & ~kF32SignMask);
  const bool isNan = abs > static_cast<std::int32_t>(kF32ExpMask);
  // Round to nearest even: add just under half an ulp, plus one if the kept lsb is odd.
  // Finite values that round past the largest bfloat16 carry into the exponent and
  // become infinity, which is the correctly rounded result.
  const std::uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  // NaN would be corrupted by the rounding add (it can carry into the sign or turn into
  // infinity), so truncate instead and force the quiet bit to keep it a NaN.
  const std::uint32_t nan = (bits >> 16) | (kF32QuietBit >> 16);
  return static_cast<std::uint16_t>(isNan ? nan : rounded);
}

}  // namespace banyan::reduce::detail
