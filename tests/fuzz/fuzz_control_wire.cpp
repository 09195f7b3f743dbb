// What a rank's control channel reads from its UDP socket: any datagram from anyone
// (src/resilience/control_wire.hpp).
// Properties: no crash; an accepted datagram re-encodes byte for byte.

#include "resilience/control_wire.hpp"

#include "fuzz_check.hpp"

#include <cstring>

using namespace banyan::resilience;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto message = decode(data, size);
  if (!message) return 0;
  const auto again = encode(*message);
  FUZZ_CHECK(again.size() == size);
  FUZZ_CHECK(std::memcmp(again.data(), data, size) == 0);
  return 0;
}
