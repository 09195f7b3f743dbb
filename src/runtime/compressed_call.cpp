#include "runtime/compressed_call.hpp"

#include "compress/codec.hpp"

#include <algorithm>

namespace banyan::detail {

namespace {

// Every Reduce step of the ring writes its sum into the result buffer, which is the staging
// buffer: from where it lands, the step knows which elements it re-encoded, and adds what that
// re-encoding dropped into this rank's residual at those elements. The next call sends it with
// this rank's input, so the re-encodings' errors are fed back as well as the rank's own.
CollectiveCall::Reducer keepingResidual(const CollectiveCall& call, std::byte* staging, std::vector<float>& scratch) {
  const CompressionFormat format = call.compression.format;
  float* residual = ErrorFeedbackAccess::residual(*call.compression.residual).data();
  const std::size_t count = call.count;
  const std::size_t unit = compress::unitBytes(format);
  const std::size_t perUnit = compress::elementsPerUnit(format);
  const std::size_t stagedBytes = compress::unitsFor(format, count) * unit;
  return [=, &scratch](void* dst, const void* a, const void* b, std::size_t units) {
    const auto* at = static_cast<const std::byte*>(dst);
    if (at < staging || at >= staging + stagedBytes) {
      // Not a slice of the result (no schedule that runs compressed does this): no feedback.
      compress::sumKernel(format)(dst, a, b, units);
      return;
    }
    const std::size_t first = static_cast<std::size_t>(at - staging) / unit * perUnit;
    const std::size_t elements = std::min(units * perUnit, count - first);
    if (scratch.size() < 2 * units * perUnit) scratch.resize(2 * units * perUnit);
    compress::sumKeepingResidual(format, dst, a, b, units, residual + first, elements, scratch.data());
  };
}

}  // namespace

CollectiveCall encodeCompressed(const CollectiveCall& call, runtime::ScratchBuffer& staging,
                                std::vector<float>& scratch) {
  const CompressionFormat format = call.compression.format;
  if (format == CompressionFormat::none) return call;
  const std::size_t units = compress::unitsFor(format, call.count);
  staging.reserve(units * compress::unitBytes(format));
  float* residual = nullptr;
  if (call.compression.residual != nullptr) residual = ErrorFeedbackAccess::residual(*call.compression.residual).data();
  compress::encode(format, static_cast<const float*>(call.send), residual, staging.data(), call.count);

  CollectiveCall encoded = call;
  encoded.send = encoded.recv = staging.data();
  encoded.count = units;
  switch (format) {
    case CompressionFormat::bf16:
      encoded.type = DataType::bf16;
      break;
    case CompressionFormat::fp16:
      encoded.type = DataType::f16;
      break;
    default:
      // Blocks of kInt8BlockBytes: i8 names them in fingerprints and messages; their size is
      // unitBytes, and the reducer below always runs.
      encoded.type = DataType::i8;
      encoded.unitBytes = compress::unitBytes(format);
      encoded.reduceWith = [format](void* dst, const void* a, const void* b, std::size_t n) {
        compress::sumKernel(format)(dst, a, b, n);
      };
      break;
  }
  if (residual != nullptr && call.count > 0) encoded.reduceWith = keepingResidual(call, staging.data(), scratch);
  return encoded;
}

void decodeCompressed(const CollectiveCall& call, const runtime::ScratchBuffer& staging) {
  if (call.compression.format == CompressionFormat::none || call.count == 0) return;
  compress::decode(call.compression.format, staging.data(), static_cast<float*>(call.recv), call.count);
}

}  // namespace banyan::detail
