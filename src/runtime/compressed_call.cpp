#include "runtime/compressed_call.hpp"

#include "compress/codec.hpp"

namespace banyan::detail {

CollectiveCall encodeCompressed(const CollectiveCall& call, runtime::ScratchBuffer& staging) {
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
      // Blocks of kInt8BlockBytes: i8 names them in fingerprints and messages; the size and the
      // kernel come from the unit fields.
      encoded.type = DataType::i8;
      encoded.unitBytes = compress::unitBytes(format);
      encoded.unitKernel = compress::sumKernel(format);
      break;
  }
  return encoded;
}

void decodeCompressed(const CollectiveCall& call, const runtime::ScratchBuffer& staging) {
  if (call.compression.format == CompressionFormat::none || call.count == 0) return;
  compress::decode(call.compression.format, staging.data(), static_cast<float*>(call.recv), call.count);
}

}  // namespace banyan::detail
