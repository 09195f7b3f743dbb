// The TCP transport's two fixed-size records, read from any peer that connects: the hello and
// the frame header (transports/tcp/tcp_wire.hpp). The first byte picks which one the rest is.
// Properties: decoding never crashes; an accepted record re-encodes to the same bytes (the
// format has no slack), and an accepted frame header's length is within kMaxPayload.

#include "transports/tcp/tcp_wire.hpp"

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstring>

using namespace banyan::transport::tcp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool hello = (data[0] & 1) == 0;
  data += 1;
  size -= 1;
  if (hello) {
    HelloBytes bytes{};
    std::memcpy(bytes.data(), data, std::min(size, bytes.size()));
    Hello decoded;
    if (decodeHello(bytes, decoded).isOk()) {
      FUZZ_CHECK(encodeHello(decoded) == bytes);
    } else {
      // A rejected record leaves nothing half-trusted behind: a valid hello still decodes.
      Hello again;
      FUZZ_CHECK(decodeHello(encodeHello(decoded), again).isOk());
    }
  } else {
    FrameHeaderBytes bytes{};
    std::memcpy(bytes.data(), data, std::min(size, bytes.size()));
    FrameHeader decoded;
    if (decodeFrameHeader(bytes, decoded).isOk()) {
      FUZZ_CHECK(decoded.length <= kMaxPayload);
      FUZZ_CHECK(encodeFrameHeader(decoded) == bytes);
    }
  }
  return 0;
}
