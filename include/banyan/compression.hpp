#pragma once
// Compressed allreduce: f32 gradients sent as bf16, fp16 or int8 blocks, for slow links
// (docs/numerics.md, "Compressed allreduce", states the error bound and what it costs).
//
//   banyan::ErrorFeedback residual;          // one per gradient buffer, kept across steps
//   comm.allreduce(grads.data(), grads.data(), grads.size(), banyan::DataType::f32,
//                  banyan::ReduceOp::sum, banyan::Compression{banyan::CompressionFormat::int8, &residual});
//
// Each rank encodes its input (plus the residual it kept from the previous call on the same
// buffer), the reduction decodes, adds in f32 and re-encodes at every step, and the result is
// decoded into the caller's f32 buffer. Only f32 sums are compressed; anything else is an
// InvalidUsage error naming the call.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace banyan {

namespace detail {
struct ErrorFeedbackAccess;
}

// What crosses the wire. none: f32 as in a plain allreduce (exact in the usual sense);
// bf16 and fp16: one 16-bit float per element (round to nearest even); int8: blocks of
// kInt8BlockElements elements, each one f32 scale (the block's largest magnitude / 127) and one
// signed byte per element (round to nearest even of value / scale, in -127..127).
enum class CompressionFormat : std::uint8_t { none, bf16, fp16, int8 };

// Elements per int8 block (the last block of a buffer may be shorter; it travels padded).
inline constexpr std::size_t kInt8BlockElements = 128;

// The residual of one gradient buffer's encodings: after each compressed allreduce with it,
// it holds (input + previous residual) - decode(encode(input + previous residual)) of this
// rank's own encoding, and the next call adds it into its input before encoding. So what the
// encoding drops from one step's gradient is sent in a later step instead of being lost, and
// the running sum of many compressed allreduces stays within one step's error of the exact
// running sum.
//
// The user owns it, one per buffer (per DDP bucket, per parameter tensor): the first call
// binds it to that call's count, and a later call with another count is an InvalidUsage error
// (a residual belongs to one buffer's layout). Two calls in flight must not share one. An
// asynchronous call reads and rewrites it while it runs: leave it alone until the Work ends.
// It is this rank's alone: nothing of it is sent.
class ErrorFeedback {
 public:
  ErrorFeedback() = default;
  // The residual, one f32 per element of the bound buffer; empty before the first call.
  std::span<const float> residual() const noexcept { return residual_; }
  // Forgets the residual and the binding (e.g. when the model's buckets are rebuilt).
  void reset() noexcept {
    residual_.clear();
    residual_.shrink_to_fit();
  }

 private:
  friend struct detail::ErrorFeedbackAccess;
  std::vector<float> residual_;
};

// The compression of one allreduce. `residual` may be null: then nothing is fed back (each
// call's encoding error is simply lost). It is ignored for CompressionFormat::none.
struct Compression {
  CompressionFormat format = CompressionFormat::none;
  ErrorFeedback* residual = nullptr;
};

// "none", "bf16", "fp16", "int8", as banyan-bench -Z spells them.
std::string_view toString(CompressionFormat format) noexcept;
std::optional<CompressionFormat> parseCompressionFormat(std::string_view name) noexcept;

}  // namespace banyan
