// What a TcpStore server reads from any client: a length-prefixed request frame
// (src/bootstrap/store_protocol.hpp). The input is the whole frame, prefix included.
// Properties: no crash or unbounded allocation (ASan's allocation limit catches one); an
// accepted body re-encodes byte for byte (the decoder accepts exactly what the encoder writes,
// no trailing bytes), and every decoded key and value is within its bound.

#include "bootstrap/store_protocol.hpp"

#include "fuzz_check.hpp"

#include <cstring>

using namespace banyan::bootstrap::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kHeaderBytes) return 0;
  std::uint32_t length = 0;
  if (!decodeFrameLength(data, kMaxRequestBytes, length).isOk()) return 0;
  FUZZ_CHECK(length > 0 && length <= kMaxRequestBytes);
  // The server reads exactly `length` bytes after the prefix; a shorter input is a truncated
  // connection, which the server reports without decoding.
  const std::uint8_t* body = data + kHeaderBytes;
  const std::size_t available = size - kHeaderBytes;
  if (available < length) return 0;

  Request request;
  if (!decodeRequest(body, length, request).isOk()) return 0;
  FUZZ_CHECK(takesKeyList(request.command) ? request.keys.size() <= kMaxWaitKeys : request.keys.size() == 1);
  for (const auto& key : request.keys) FUZZ_CHECK(key.size() <= kMaxKeyBytes);
  FUZZ_CHECK(request.value.size() <= kMaxValueBytes);

  const Bytes frame = encodeRequest(request);
  FUZZ_CHECK(frame.size() == kHeaderBytes + length);
  FUZZ_CHECK(std::memcmp(frame.data(), data, frame.size()) == 0);
  return 0;
}
