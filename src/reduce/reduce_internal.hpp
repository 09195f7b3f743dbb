#pragma once
// Test hooks for the 16-bit float kernels. kernelFor() and divideBy() pick a hand-vectorised
// AVX2/F16C implementation for f16 and bf16 when the CPU has it; these entry points let the
// unit tests run both that and the portable implementation on the same machine and check
// that they agree bit for bit. Nothing outside src/reduce and its tests should need this.

#include "reduce/reduce.hpp"

#include <cstddef>

namespace banyan::reduce::detail {

enum class KernelPath : unsigned char { portable, simd };

// True when the CPU (and OS) support AVX2 and F16C, i.e. KernelPath::simd is usable.
bool simdAvailable() noexcept;

// The kernel for (type, op) from the given implementation. Types other than f16/bf16 have
// only the portable one, which both paths return. Null for invalid input, or for the simd
// path when simdAvailable() is false.
Kernel kernelForPath(DataType type, ReduceOp op, KernelPath path) noexcept;

// divideBy() using the given implementation; returns false, doing nothing, when that
// implementation is unavailable.
bool divideByPath(DataType type, KernelPath path, void* buffer, std::size_t count, int divisor) noexcept;

}  // namespace banyan::reduce::detail
