#pragma once
// The portable codec (plain loops), and the block bookkeeping the AVX2 codec shares with it:
// included only by codec.cpp and codec_x86.hpp. codec.cpp's header comment gives the arithmetic.

#include "compress/codec.hpp"
#include "reduce/half.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace banyan::compress::portable {

// Blocks whose largest magnitude is below this are sent as zeros (their values stay in the
// residual): 127 / m would overflow for m near the smallest floats, and the scale would be
// subnormal. 2^-100 keeps both normal.
inline constexpr float kTinyBlock = 0x1p-100f;
inline constexpr std::size_t kBlock = kInt8BlockElements;

// What one int8 block's largest magnitude `m` (and whether every value was finite) makes of it.
struct BlockScale {
  enum class Kind : unsigned char { normal, zeros, nonFinite };
  Kind kind = Kind::zeros;
  float scale = 0;
  float inv = 0;
};

inline BlockScale blockScale(float m, bool finite) noexcept {
  BlockScale s;
  if (!finite) {
    s.kind = BlockScale::Kind::nonFinite;
    s.scale = std::numeric_limits<float>::quiet_NaN();
  } else if (m >= kTinyBlock) {
    s.kind = BlockScale::Kind::normal;
    s.scale = m / 127.0f;
    s.inv = 127.0f / m;
  }
  return s;
}

inline void putScale(std::byte* block, float scale) noexcept { std::memcpy(block, &scale, sizeof scale); }
inline float getScale(const std::byte* block) noexcept {
  float scale = 0;
  std::memcpy(&scale, block, sizeof scale);
  return scale;
}

// Runs `encodeBlock(in, residual, out)` over the full blocks of `count` values and over a
// zero-padded copy of the tail (residual may be null).
template <class EncodeBlock>
void encodeBlocks(const float* in, float* residual, void* out, std::size_t count, EncodeBlock encodeBlock) noexcept {
  auto* o = static_cast<std::byte*>(out);
  const std::size_t full = count / kBlock;
  for (std::size_t b = 0; b < full; ++b) {
    encodeBlock(in + b * kBlock, residual != nullptr ? residual + b * kBlock : nullptr, o + b * kInt8BlockBytes);
  }
  const std::size_t rest = count - full * kBlock;
  if (rest == 0) return;
  float tailIn[kBlock] = {}, tailResidual[kBlock] = {};
  std::memcpy(tailIn, in + full * kBlock, rest * sizeof(float));
  if (residual != nullptr) std::memcpy(tailResidual, residual + full * kBlock, rest * sizeof(float));
  encodeBlock(tailIn, residual != nullptr ? tailResidual : nullptr, o + full * kInt8BlockBytes);
  if (residual != nullptr) std::memcpy(residual + full * kBlock, tailResidual, rest * sizeof(float));
}

template <class DecodeBlock>
void decodeBlocks(const void* in, float* out, std::size_t count, DecodeBlock decodeBlock) noexcept {
  const auto* i = static_cast<const std::byte*>(in);
  const std::size_t full = count / kBlock;
  for (std::size_t b = 0; b < full; ++b) decodeBlock(i + b * kInt8BlockBytes, out + b * kBlock);
  const std::size_t rest = count - full * kBlock;
  if (rest == 0) return;
  float tail[kBlock];
  decodeBlock(i + full * kInt8BlockBytes, tail);
  std::memcpy(out + full * kBlock, tail, rest * sizeof(float));
}

// dst = encode(decode(a) + decode(b)) over `units` blocks; dst may alias a or b (both are
// decoded before dst is written).
template <class EncodeBlock, class DecodeBlock>
void sumBlocks(void* dst, const void* a, const void* b, std::size_t units, EncodeBlock encodeBlock,
               DecodeBlock decodeBlock) noexcept {
  auto* d = static_cast<std::byte*>(dst);
  const auto* x = static_cast<const std::byte*>(a);
  const auto* y = static_cast<const std::byte*>(b);
  for (std::size_t u = 0; u < units; ++u) {
    alignas(32) float fx[kBlock], fy[kBlock];
    decodeBlock(x + u * kInt8BlockBytes, fx);
    decodeBlock(y + u * kInt8BlockBytes, fy);
    for (std::size_t j = 0; j < kBlock; ++j) fx[j] += fy[j];
    encodeBlock(fx, nullptr, d + u * kInt8BlockBytes);
  }
}

// ---- 16-bit floats -------------------------------------------------------------------------

inline float residualOf(float v, float decoded) noexcept { return std::isfinite(decoded) ? v - decoded : 0.0f; }

template <std::uint16_t (*Narrow)(float), float (*Widen)(std::uint16_t)>
void encode16(const float* in, float* residual, void* out, std::size_t count) noexcept {
  auto* o = static_cast<std::uint16_t*>(out);
  if (residual == nullptr) {
    for (std::size_t i = 0; i < count; ++i) o[i] = Narrow(in[i]);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    const float v = in[i] + residual[i];
    o[i] = Narrow(v);
    residual[i] = residualOf(v, Widen(o[i]));
  }
}

template <float (*Widen)(std::uint16_t)>
void decode16(const void* in, float* out, std::size_t count) noexcept {
  const auto* i16 = static_cast<const std::uint16_t*>(in);
  for (std::size_t i = 0; i < count; ++i) out[i] = Widen(i16[i]);
}

inline void encodeBfloat16(const float* in, float* residual, void* out, std::size_t count) noexcept {
  encode16<reduce::detail::floatToBfloat16Bits, reduce::detail::bfloat16BitsToFloat>(in, residual, out, count);
}
inline void decodeBfloat16(const void* in, float* out, std::size_t count) noexcept {
  decode16<reduce::detail::bfloat16BitsToFloat>(in, out, count);
}
inline void encodeHalf(const float* in, float* residual, void* out, std::size_t count) noexcept {
  encode16<reduce::detail::floatToHalfBits, reduce::detail::halfBitsToFloat>(in, residual, out, count);
}
inline void decodeHalf(const void* in, float* out, std::size_t count) noexcept {
  decode16<reduce::detail::halfBitsToFloat>(in, out, count);
}

// ---- int8 blocks ---------------------------------------------------------------------------

inline void encodeInt8Block(const float* in, float* residual, std::byte* out) noexcept {
  float v[kBlock];
  float m = 0;
  bool finite = true;
  for (std::size_t j = 0; j < kBlock; ++j) {
    v[j] = residual != nullptr ? in[j] + residual[j] : in[j];
    const float a = std::fabs(v[j]);
    finite = finite && a <= std::numeric_limits<float>::max();
    m = a > m ? a : m;
  }
  const BlockScale s = blockScale(m, finite);
  putScale(out, s.scale);
  auto* q = reinterpret_cast<std::int8_t*>(out + sizeof(float));
  for (std::size_t j = 0; j < kBlock; ++j) {
    float qf = 0;
    if (s.kind == BlockScale::Kind::normal) qf = std::fmin(std::fmax(std::nearbyint(v[j] * s.inv), -127.0f), 127.0f);
    q[j] = static_cast<std::int8_t>(qf);
    if (residual == nullptr) continue;
    residual[j] = s.kind == BlockScale::Kind::normal  ? v[j] - qf * s.scale
                  : s.kind == BlockScale::Kind::zeros ? v[j]
                                                      : 0.0f;
  }
}

inline void decodeInt8Block(const std::byte* in, float* out) noexcept {
  const float scale = getScale(in);
  const auto* q = reinterpret_cast<const std::int8_t*>(in + sizeof(float));
  for (std::size_t j = 0; j < kBlock; ++j) out[j] = static_cast<float>(q[j]) * scale;
}

inline void encodeInt8(const float* in, float* residual, void* out, std::size_t count) noexcept {
  encodeBlocks(in, residual, out, count, encodeInt8Block);
}
inline void decodeInt8(const void* in, float* out, std::size_t count) noexcept {
  decodeBlocks(in, out, count, decodeInt8Block);
}
inline void sumInt8(void* dst, const void* a, const void* b, std::size_t units) noexcept {
  sumBlocks(dst, a, b, units, encodeInt8Block, decodeInt8Block);
}

}  // namespace banyan::compress::portable
