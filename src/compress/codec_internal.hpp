#pragma once
// Test hooks: the AVX2/F16C and the portable codec side by side, so the unit tests can check
// that they agree bit for bit on one machine. Nothing outside src/compress and its tests
// should need this.

#include "compress/codec.hpp"

namespace banyan::compress::detail {

enum class CodecPath : unsigned char { portable, simd };

// True when the CPU has AVX2 and F16C (and the OS saves YMM): CodecPath::simd is usable.
bool simdAvailable() noexcept;

// As encode(), decode() and sumKernel(), from the given path; false (nothing done) or null
// when that path is unavailable.
bool encodePath(CodecPath path, CompressionFormat format, const float* in, float* residual, void* out,
                std::size_t count) noexcept;
bool decodePath(CodecPath path, CompressionFormat format, const void* in, float* out, std::size_t count) noexcept;
UnitKernel sumKernelPath(CodecPath path, CompressionFormat format) noexcept;

}  // namespace banyan::compress::detail
