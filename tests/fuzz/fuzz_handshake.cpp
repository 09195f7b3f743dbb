// libFuzzer target: the authentication handshake's decoders (src/security/handshake.hpp) and
// the TCP hello that opens it (transports/tcp/tcp_wire.hpp), fed arbitrary bytes. They must
// refuse anything malformed with a Status, never read past `size`, and accept a message only
// if it re-encodes to the same bytes. Verifying a MAC over fuzzed input must simply say no.
//
// Build by hand: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -Isrc -Iinclude
//   tests/fuzz/fuzz_handshake.cpp src/security/handshake.cpp src/security/job_key.cpp
//   transports/tcp/tcp_wire.cpp src/common/status.cpp src/common/error.cpp -lfmt -lsodium

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "security/handshake.hpp"
#include "transports/tcp/tcp_wire.hpp"

namespace {

[[noreturn]] void broken(const char* what) {
  __builtin_trap();  // libFuzzer reports it with the input
  (void)what;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace banyan::security;
  namespace tcp = banyan::transport::tcp;

  Challenge challenge;
  if (decodeChallenge(data, size, challenge).isOk()) {
    const auto again = encodeChallenge(challenge);
    if (size != again.size() || std::memcmp(again.data(), data, size) != 0) broken("challenge round trip");
  }
  Proof proof;
  if (decodeProof(data, size, proof).isOk()) {
    const auto again = encodeProof(proof);
    if (size != again.size() || std::memcmp(again.data(), data, size) != 0) broken("proof round trip");
  }
  StoreHello storeHello;
  if (decodeStoreHello(data, size, storeHello).isOk()) {
    const auto again = encodeStoreHello(storeHello);
    if (size != again.size() || std::memcmp(again.data(), data, size) != 0) broken("store hello round trip");
  }
  if (size >= tcp::kHelloSize) {
    tcp::HelloBytes bytes;
    std::memcpy(bytes.data(), data, bytes.size());
    tcp::Hello hello;
    if (tcp::decodeHello(bytes, hello).isOk()) {
      if (tcp::encodeHello(hello) != bytes) broken("hello round trip");
      // A MAC from the fuzzer's bytes against a fixed key: must not verify (2^-256 chance).
      static const JobKey key = deriveKey("fuzz");
      Mac mac{};
      const std::size_t rest = size - tcp::kHelloSize;
      std::memcpy(mac.data(), data + tcp::kHelloSize, rest < mac.size() ? rest : mac.size());
      if (verifyMac(key, Role::Connector, bytes, hello.clientNonce, Nonce{}, mac)) broken("forged MAC verified");
    }
  }
  return 0;
}
