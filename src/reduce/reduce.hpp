#pragma once
// Element-wise reduction kernels for every DataType x ReduceOp. Written as plain loops over
// contiguous arrays that g++ -O3 auto-vectorises; f16 and bf16 are widened to f32, combined,
// and rounded back (round to nearest even), so they accumulate in f32 within one call.

#include <banyan/types.hpp>

#include <cstddef>

namespace banyan::reduce {

// dst[i] = a[i] op b[i] for i < count. dst may be exactly a or b (same pointer); partial
// overlap is not allowed. For ReduceOp::avg this is the sum: callers divide once at the end
// with divideBy(). Integer sum/prod wrap around (two's complement), as in C with -fwrapv.
using Kernel = void (*)(void* dst, const void* a, const void* b, std::size_t count);

// The kernel for (type, op). Both must be valid (see isValid); never returns null for valid input.
Kernel kernelFor(DataType type, ReduceOp op) noexcept;

// Convenience: kernelFor(type, op)(dst, a, b, count).
void reduce(DataType type, ReduceOp op, void* dst, const void* a, const void* b, std::size_t count) noexcept;

// buffer[i] /= divisor, for ReduceOp::avg. Integer types divide truncating toward zero,
// floating types divide in their own precision (f16/bf16 through f32).
void divideBy(DataType type, void* buffer, std::size_t count, int divisor) noexcept;

// dst[i] = src[i] * factor, for premultiplied sums; floating types only (f16/bf16 through
// f32, f32 in f32, f64 in f64). dst may equal src.
void scale(DataType type, void* dst, const void* src, std::size_t count, double factor) noexcept;

// Conversions used by the kernels and by tests (round to nearest even; NaN stays NaN).
float halfToFloat(std::uint16_t h) noexcept;
std::uint16_t floatToHalf(float f) noexcept;
float bfloat16ToFloat(std::uint16_t h) noexcept;
std::uint16_t floatToBfloat16(float f) noexcept;

}  // namespace banyan::reduce
