#pragma once
// A compressed allreduce as the engines run it (docs/numerics.md, "Compressed allreduce"): the
// caller's f32 input, plus the residual its ErrorFeedback kept, is encoded into a staging
// buffer; the engine reduces the encoded data in place there (bf16 and fp16 as those types,
// whose sum kernels widen to f32, add and round back; int8 as blocks with their own kernel);
// the result is decoded into the caller's receive buffer.

#include "common/call.hpp"
#include "runtime/scratch_buffer.hpp"

#include <vector>

namespace banyan::detail {

// The call the engine should run for the compressed allreduce `call`: its input encoded into
// `staging` (the ErrorFeedback, if any, rewritten with this encoding's residual, and told the
// residuals of the re-encodings this rank does as the call runs, through reduceWith, which uses
// `scratch`). It must run as the ring schedule, whose every Reduce lands in `staging`. `call`
// itself is returned unchanged when it is not compressed.
CollectiveCall encodeCompressed(const CollectiveCall& call, runtime::ScratchBuffer& staging,
                                std::vector<float>& scratch);

// The result of `call` (as the caller made it), decoded from `staging` into call.recv.
void decodeCompressed(const CollectiveCall& call, const runtime::ScratchBuffer& staging);

}  // namespace banyan::detail
