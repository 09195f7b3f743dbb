#pragma once
// Hand-vectorised f16 and bf16 kernels for x86 with AVX2 + F16C, included only by
// reduce.cpp and (for the loaders HalfV and Bfloat16V) src/compress/codec_x86.hpp. The
// portable conversions in half.hpp are branchy (f16) or need lane-narrowing shuffles that
// g++ handles poorly without AVX2 (bf16), so the auto-vectorised portable loops run several
// times below memory speed. These widen eight elements to one __m256 of
// f32, combine, and narrow back, matching the portable code bit for bit (the tests check).
//
// The functions carry target attributes, so the rest of the library still builds for the
// baseline ISA; reduce.cpp calls them only after a runtime CPU check.

#include "reduce/reduce.hpp"

#include <cpuid.h>
#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>

#define BANYAN_SIMD_TARGET __attribute__((target("avx2,f16c")))

namespace banyan::reduce::simd {

// XGETBV via inline asm, since the _xgetbv intrinsic would itself need target("xsave").
// Only called once CPUID has reported OSXSAVE.
inline std::uint64_t readXcr0() noexcept {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

// ---- Formats: stored elements <-> f32 lanes ------------------------------------------------

struct HalfV {
  BANYAN_SIMD_TARGET static __m256 load8(const std::uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  BANYAN_SIMD_TARGET static void store8(std::uint16_t* p, __m256 v) {
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, kRound));
  }
};

// bfloat16 works on sixteen elements at a time because that pairs up cheaply: interleaving
// with zeros widens an element into the top half of an f32 lane, and the signed pack undoes
// exactly that interleaving (both work within 128-bit halves, in matching order). That
// keeps the kernels at memory speed, where pmovzx plus a cross-lane narrowing did not.
struct Bfloat16V {
  BANYAN_SIMD_TARGET static void load16(const std::uint16_t* p, __m256& lo, __m256& hi) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i zero = _mm256_setzero_si256();
    lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, raw));
    hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, raw));
  }
  BANYAN_SIMD_TARGET static void store16(std::uint16_t* p, __m256 lo, __m256 hi) {
    const __m256i packed = _mm256_packs_epi32(roundToTop(lo), roundToTop(hi));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), packed);
  }
  // Same arithmetic as floatToBfloat16Bits, leaving each lane a sign-extended 16-bit value
  // (arithmetic shift), which the signed-saturating pack then narrows exactly.
  BANYAN_SIMD_TARGET static __m256i roundToTop(__m256 v) {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_add_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(0x7FFF)), lsb);
    const __m256i isNan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    const __m256i nan = _mm256_or_si256(bits, _mm256_set1_epi32(0x0040'0000));
    const __m256i chosen = _mm256_or_si256(_mm256_and_si256(isNan, nan), _mm256_andnot_si256(isNan, rounded));
    return _mm256_srai_epi32(chosen, 16);
  }
};

// ---- Operators: same operation and operand order as the scalar ones in reduce.cpp --------

// vminps/vmaxps return the second operand when either is NaN, which matches the scalar
// select for a NaN in b; a NaN in a is put back explicitly. (Written with and/andnot/or:
// g++ 12 turns _mm256_blendv_ps into a generic select and then expands it lane by lane.)
BANYAN_SIMD_TARGET inline __m256 keepNanOf(__m256 a, __m256 result) {
  const __m256 aIsNan = _mm256_cmp_ps(a, a, _CMP_UNORD_Q);
  return _mm256_or_ps(_mm256_and_ps(aIsNan, a), _mm256_andnot_ps(aIsNan, result));
}

struct SumV {
  BANYAN_SIMD_TARGET static __m256 apply(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
};
struct ProdV {
  BANYAN_SIMD_TARGET static __m256 apply(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
};
struct MinV {
  BANYAN_SIMD_TARGET static __m256 apply(__m256 a, __m256 b) { return keepNanOf(a, _mm256_min_ps(a, b)); }
};
struct MaxV {
  BANYAN_SIMD_TARGET static __m256 apply(__m256 a, __m256 b) { return keepNanOf(a, _mm256_max_ps(a, b)); }
};

// ---- Kernels -------------------------------------------------------------------------------

// Both formats are driven in blocks of sixteen elements (two vectors of eight f32).
inline constexpr std::size_t kBlock = 16;

struct HalfBlock {
  BANYAN_SIMD_TARGET static void load16(const std::uint16_t* p, __m256& lo, __m256& hi) {
    lo = HalfV::load8(p);
    hi = HalfV::load8(p + 8);
  }
  BANYAN_SIMD_TARGET static void store16(std::uint16_t* p, __m256 lo, __m256 hi) {
    HalfV::store8(p, lo);
    HalfV::store8(p + 8, hi);
  }
};

template <class Format, class OpV>
BANYAN_SIMD_TARGET inline void combineBlock(std::uint16_t* d, const std::uint16_t* x, const std::uint16_t* y) {
  __m256 xLo, xHi, yLo, yHi;
  Format::load16(x, xLo, xHi);
  Format::load16(y, yLo, yHi);
  Format::store16(d, OpV::apply(xLo, yLo), OpV::apply(xHi, yHi));
}

template <class Format, class OpV>
BANYAN_SIMD_TARGET void combine(void* dst, const void* a, const void* b, std::size_t count) noexcept {
  auto* d = static_cast<std::uint16_t*>(dst);
  const auto* x = static_cast<const std::uint16_t*>(a);
  const auto* y = static_cast<const std::uint16_t*>(b);
  // Each block is fully loaded before it is stored, so an exact alias of dst is safe.
  std::size_t i = 0;
  for (; i + kBlock <= count; i += kBlock) combineBlock<Format, OpV>(d + i, x + i, y + i);
  if (i == count) return;
  // Pad the tail to a full block so that it goes through the very same instructions.
  std::uint16_t tx[kBlock] = {}, ty[kBlock] = {}, td[kBlock];
  const std::size_t rest = count - i;
  for (std::size_t j = 0; j < rest; ++j) {
    tx[j] = x[i + j];
    ty[j] = y[i + j];
  }
  combineBlock<Format, OpV>(td, tx, ty);
  for (std::size_t j = 0; j < rest; ++j) d[i + j] = td[j];
}

template <class Format>
BANYAN_SIMD_TARGET inline void divideBlock(std::uint16_t* p, __m256 divisor) {
  __m256 lo, hi;
  Format::load16(p, lo, hi);
  Format::store16(p, _mm256_div_ps(lo, divisor), _mm256_div_ps(hi, divisor));
}

template <class Format>
BANYAN_SIMD_TARGET void divide(void* buffer, std::size_t count, int divisor) noexcept {
  auto* p = static_cast<std::uint16_t*>(buffer);
  const __m256 d = _mm256_set1_ps(static_cast<float>(divisor));
  std::size_t i = 0;
  for (; i + kBlock <= count; i += kBlock) divideBlock<Format>(p + i, d);
  if (i == count) return;
  std::uint16_t tmp[kBlock] = {};
  const std::size_t rest = count - i;
  for (std::size_t j = 0; j < rest; ++j) tmp[j] = p[i + j];
  divideBlock<Format>(tmp, d);
  for (std::size_t j = 0; j < rest; ++j) p[i + j] = tmp[j];
}

// Indexed by ReduceOp: sum, prod, min, max, avg (avg combines as sum); the bitwise ops are not
// defined on these formats, so their entries stay null.
template <class FormatV>
inline constexpr std::array<Kernel, kReduceOpCount> kKernels = {&combine<FormatV, SumV>, &combine<FormatV, ProdV>,
                                                                &combine<FormatV, MinV>, &combine<FormatV, MaxV>,
                                                                &combine<FormatV, SumV>};

// Reads CPUID directly rather than using __builtin_cpu_supports: clang does not know the
// "f16c" feature name, and this also works during static initialisation.
inline bool cpuSupported() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool f16c = (ecx & bit_F16C) != 0;
  const bool avx = (ecx & bit_AVX) != 0;
  // The OS must also save and restore the YMM registers (XCR0 bits 1 and 2).
  const bool osSavesYmm = (ecx & bit_OSXSAVE) != 0 && (readXcr0() & 0x6u) == 0x6u;
  if (!(f16c && avx && osSavesYmm)) return false;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ebx & bit_AVX2) != 0;
}

}  // namespace banyan::reduce::simd

#undef BANYAN_SIMD_TARGET
