#pragma once
// The AVX2/F16C codec, included only by codec.cpp, which calls it only after the runtime CPU
// check. Same f32 operations in the same order as codec_portable.hpp (the unit tests compare
// the bits); the 16-bit formats use the reduction kernels' loaders (reduce/simd_x86.hpp).

#include "compress/codec_portable.hpp"
#include "reduce/simd_x86.hpp"

#include <immintrin.h>

#include <cfloat>
#include <cstddef>
#include <cstdint>

#define BANYAN_CODEC_TARGET __attribute__((target("avx2,f16c")))

namespace banyan::compress::simd {

using reduce::simd::Bfloat16V;
using reduce::simd::HalfV;

// residual = v - decoded where decoded is finite, else 0 (portable::residualOf).
BANYAN_CODEC_TARGET inline __m256 residualOf(__m256 v, __m256 decoded) {
  const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), decoded);
  const __m256 finite = _mm256_cmp_ps(magnitude, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ);
  return _mm256_and_ps(finite, _mm256_sub_ps(v, decoded));
}

BANYAN_CODEC_TARGET inline __m256 loadInput(const float* in, const float* residual) {
  const __m256 x = _mm256_loadu_ps(in);
  return residual != nullptr ? _mm256_add_ps(x, _mm256_loadu_ps(residual)) : x;
}

// ---- bf16: sixteen at a time, in Bfloat16V's lane order ([0..3, 8..11] and [4..7, 12..15]) ----

BANYAN_CODEC_TARGET inline void encodeBfloat16Block(const float* in, float* residual, std::uint16_t* out) {
  const __m256 a = loadInput(in, residual);
  const __m256 b = loadInput(in + 8, residual != nullptr ? residual + 8 : nullptr);
  Bfloat16V::store16(out, _mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
  if (residual == nullptr) return;
  __m256 lo, hi;
  Bfloat16V::load16(out, lo, hi);
  _mm256_storeu_ps(residual, residualOf(a, _mm256_permute2f128_ps(lo, hi, 0x20)));
  _mm256_storeu_ps(residual + 8, residualOf(b, _mm256_permute2f128_ps(lo, hi, 0x31)));
}

BANYAN_CODEC_TARGET inline void decodeBfloat16Block(const std::uint16_t* in, float* out) {
  __m256 lo, hi;
  Bfloat16V::load16(in, lo, hi);
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(lo, hi, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

BANYAN_CODEC_TARGET inline void encodeHalfBlock(const float* in, float* residual, std::uint16_t* out) {
  for (int h = 0; h < 2; ++h) {
    const __m256 v = loadInput(in + 8 * h, residual != nullptr ? residual + 8 * h : nullptr);
    HalfV::store8(out + 8 * h, v);
    if (residual != nullptr) _mm256_storeu_ps(residual + 8 * h, residualOf(v, HalfV::load8(out + 8 * h)));
  }
}

BANYAN_CODEC_TARGET inline void decodeHalfBlock(const std::uint16_t* in, float* out) {
  _mm256_storeu_ps(out, HalfV::load8(in));
  _mm256_storeu_ps(out + 8, HalfV::load8(in + 8));
}

// Sixteen at a time through the block functions, the tail through the portable code (element
// by element the two agree, so where the tail starts does not change a bit).
template <void (*EncodeBlock)(const float*, float*, std::uint16_t*),
          void (*Tail)(const float*, float*, void*, std::size_t) noexcept>
BANYAN_CODEC_TARGET void encode16(const float* in, float* residual, void* out, std::size_t count) noexcept {
  auto* o = static_cast<std::uint16_t*>(out);
  std::size_t i = 0;
  for (; i + 16 <= count; i += 16) EncodeBlock(in + i, residual != nullptr ? residual + i : nullptr, o + i);
  if (i < count) Tail(in + i, residual != nullptr ? residual + i : nullptr, o + i, count - i);
}

template <void (*DecodeBlock)(const std::uint16_t*, float*), void (*Tail)(const void*, float*, std::size_t) noexcept>
BANYAN_CODEC_TARGET void decode16(const void* in, float* out, std::size_t count) noexcept {
  const auto* i16 = static_cast<const std::uint16_t*>(in);
  std::size_t i = 0;
  for (; i + 16 <= count; i += 16) DecodeBlock(i16 + i, out + i);
  if (i < count) Tail(i16 + i, out + i, count - i);
}

inline void encodeBfloat16(const float* in, float* residual, void* out, std::size_t count) noexcept {
  encode16<encodeBfloat16Block, portable::encodeBfloat16>(in, residual, out, count);
}
inline void decodeBfloat16(const void* in, float* out, std::size_t count) noexcept {
  decode16<decodeBfloat16Block, portable::decodeBfloat16>(in, out, count);
}
inline void encodeHalf(const float* in, float* residual, void* out, std::size_t count) noexcept {
  encode16<encodeHalfBlock, portable::encodeHalf>(in, residual, out, count);
}
inline void decodeHalf(const void* in, float* out, std::size_t count) noexcept {
  decode16<decodeHalfBlock, portable::decodeHalf>(in, out, count);
}

// ---- int8 blocks: 128 values = 16 vectors ------------------------------------------------

inline constexpr std::size_t kVectors = portable::kBlock / 8;

BANYAN_CODEC_TARGET inline float horizontalMax(__m256 x) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

// Four vectors of 8 rounded, clamped values -> 32 bytes in element order.
BANYAN_CODEC_TARGET inline __m256i packToBytes(const __m256* q) {
  const __m256i p01 = _mm256_packs_epi32(_mm256_cvtps_epi32(q[0]), _mm256_cvtps_epi32(q[1]));
  const __m256i p23 = _mm256_packs_epi32(_mm256_cvtps_epi32(q[2]), _mm256_cvtps_epi32(q[3]));
  // The packs work within 128-bit halves: the 4-byte groups come out as q0[0..3], q1[0..3],
  // q2[0..3], q3[0..3], q0[4..7], q1[4..7], q2[4..7], q3[4..7].
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

BANYAN_CODEC_TARGET inline void encodeInt8Block(const float* in, float* residual, std::byte* out) noexcept {
  using portable::BlockScale;
  __m256 v[kVectors];
  __m256 m = _mm256_setzero_ps();
  __m256 finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  const __m256 signBit = _mm256_set1_ps(-0.0f);
  for (std::size_t k = 0; k < kVectors; ++k) {
    v[k] = loadInput(in + 8 * k, residual != nullptr ? residual + 8 * k : nullptr);
    const __m256 a = _mm256_andnot_ps(signBit, v[k]);
    finite = _mm256_and_ps(finite, _mm256_cmp_ps(a, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ));
    m = _mm256_max_ps(m, a);
  }
  const bool allFinite = _mm256_movemask_ps(finite) == 0xFF;
  const BlockScale s = portable::blockScale(allFinite ? horizontalMax(m) : 0.0f, allFinite);
  portable::putScale(out, s.scale);
  const __m256 inv = _mm256_set1_ps(s.inv), scale = _mm256_set1_ps(s.scale);
  const __m256 lowest = _mm256_set1_ps(-127.0f), highest = _mm256_set1_ps(127.0f);
  const bool normal = s.kind == BlockScale::Kind::normal;
  for (std::size_t k = 0; k < kVectors; k += 4) {
    __m256 q[4];
    for (std::size_t t = 0; t < 4; ++t) {
      const __m256 r = _mm256_round_ps(_mm256_mul_ps(v[k + t], inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      q[t] = normal ? _mm256_min_ps(_mm256_max_ps(r, lowest), highest) : _mm256_setzero_ps();
      if (residual == nullptr) continue;
      const __m256 left = normal                              ? _mm256_sub_ps(v[k + t], _mm256_mul_ps(q[t], scale))
                          : s.kind == BlockScale::Kind::zeros ? v[k + t]
                                                              : _mm256_setzero_ps();
      _mm256_storeu_ps(residual + 8 * (k + t), left);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + sizeof(float) + 8 * k), packToBytes(q));
  }
}

BANYAN_CODEC_TARGET inline void decodeInt8Block(const std::byte* in, float* out) noexcept {
  const __m256 scale = _mm256_set1_ps(portable::getScale(in));
  const std::byte* q = in + sizeof(float);
  for (std::size_t k = 0; k < kVectors; ++k) {
    const __m256i wide = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 8 * k)));
    _mm256_storeu_ps(out + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(wide), scale));
  }
}

BANYAN_CODEC_TARGET inline void sumInt8Units(void* dst, const void* a, const void* b, std::size_t units) noexcept {
  auto* d = static_cast<std::byte*>(dst);
  const auto* x = static_cast<const std::byte*>(a);
  const auto* y = static_cast<const std::byte*>(b);
  for (std::size_t u = 0; u < units; ++u) {
    alignas(32) float fx[portable::kBlock], fy[portable::kBlock];
    decodeInt8Block(x + u * kInt8BlockBytes, fx);
    decodeInt8Block(y + u * kInt8BlockBytes, fy);
    for (std::size_t k = 0; k < kVectors; ++k) {
      _mm256_store_ps(fx + 8 * k, _mm256_add_ps(_mm256_load_ps(fx + 8 * k), _mm256_load_ps(fy + 8 * k)));
    }
    encodeInt8Block(fx, nullptr, d + u * kInt8BlockBytes);
  }
}

inline void encodeInt8(const float* in, float* residual, void* out, std::size_t count) noexcept {
  portable::encodeBlocks(in, residual, out, count, encodeInt8Block);
}
inline void decodeInt8(const void* in, float* out, std::size_t count) noexcept {
  portable::decodeBlocks(in, out, count, decodeInt8Block);
}
inline void sumInt8(void* dst, const void* a, const void* b, std::size_t units) noexcept {
  sumInt8Units(dst, a, b, units);
}

}  // namespace banyan::compress::simd

#undef BANYAN_CODEC_TARGET
