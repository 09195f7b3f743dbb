#pragma once
// Encoding f32 into the compressed formats of a compressed allreduce and back, and the sum
// over encoded data that a compressed allreduce's reduction steps run (docs/numerics.md,
// "Compressed allreduce").
//
// Terms
//   unit     what the engines carry as one element: a bf16 or fp16 value (2 bytes), or an int8
//            block (kInt8BlockBytes: an f32 scale, then kInt8BlockElements signed bytes). A
//            buffer of `count` f32 values encodes into unitsFor(format, count) units; the last
//            int8 block of a buffer is padded with zeros.
//   scale    of an int8 block: m / 127, m the largest magnitude in the block; element j
//            decodes to q[j] * scale. A block holding an Inf or NaN gets a NaN scale (and q
//            all 0), so the whole block decodes to NaN: the overflow stays visible.
//   residual (input + residual) - decode(encode(input + residual)), element-wise, what the
//            encoding dropped, which the next encoding of the same buffer adds back.
//
// Every function here runs the AVX2/F16C path when the CPU has it and the portable one
// otherwise; the two give the same bits (tests/unit/test_codec.cpp).

#include <banyan/compression.hpp>

#include <cstddef>
#include <cstdint>

namespace banyan::compress {

inline constexpr std::size_t kInt8BlockBytes = sizeof(float) + kInt8BlockElements;

// Bytes of one unit of `format` (none: 4, an f32).
std::size_t unitBytes(CompressionFormat format) noexcept;
// Units that `count` f32 values encode into.
std::size_t unitsFor(CompressionFormat format, std::size_t count) noexcept;

// out (unitsFor(format, count) units) = encode(in + residual); when residual is not null it
// is read, then rewritten with the new residual. format must not be none.
void encode(CompressionFormat format, const float* in, float* residual, void* out, std::size_t count) noexcept;
// out[i] = decode(in)[i] for i < count.
void decode(CompressionFormat format, const void* in, float* out, std::size_t count) noexcept;

// The reduction over units: dst = encode(decode(a) + decode(b)), the sum done in f32, for
// `units` units; dst may be exactly a or b. Same signature as reduce::Kernel.
using UnitKernel = void (*)(void* dst, const void* a, const void* b, std::size_t units);
UnitKernel sumKernel(CompressionFormat format) noexcept;

// Values per unit: kInt8BlockElements for int8, else 1.
std::size_t elementsPerUnit(CompressionFormat format) noexcept;

// As sumKernel(format)(dst, a, b, units), and residual[j] += what this encoding dropped
// ((decode(a) + decode(b)) - decode(dst), 0 where the decoded value is not finite) for the
// first `elements` values (at most units * elementsPerUnit). `scratch` holds at least
// 2 * units * elementsPerUnit floats. The bits of dst may differ from sumKernel's only in the
// sign of a zero.
void sumKeepingResidual(CompressionFormat format, void* dst, const void* a, const void* b, std::size_t units,
                        float* residual, std::size_t elements, float* scratch) noexcept;

}  // namespace banyan::compress
