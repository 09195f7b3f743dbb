// What a TcpStore client reads from the server it connected to: a length-prefixed response
// frame and, for an add, its i64 result (src/bootstrap/store_protocol.hpp).
// Properties: no crash; an accepted response re-encodes byte for byte; an accepted add result
// re-encodes to the same 8 bytes.

#include "bootstrap/store_protocol.hpp"

#include "fuzz_check.hpp"

#include <cstring>

using namespace banyan::bootstrap::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kHeaderBytes) return 0;
  std::uint32_t length = 0;
  if (!decodeFrameLength(data, kMaxResponseBytes, length).isOk()) return 0;
  FUZZ_CHECK(length > 0 && length <= kMaxResponseBytes);
  if (size - kHeaderBytes < length) return 0;

  Response response;
  if (!decodeResponse(data + kHeaderBytes, length, response).isOk()) return 0;
  const Bytes frame = encodeResponse(response);
  FUZZ_CHECK(frame.size() == kHeaderBytes + length);
  FUZZ_CHECK(std::memcmp(frame.data(), data, frame.size()) == 0);

  std::int64_t value = 0;
  if (response.status == ResponseStatus::Ok && decodeAddResult(response.payload, value).isOk()) {
    FUZZ_CHECK(encodeAddResult(value) == response.payload);
  }
  return 0;
}
