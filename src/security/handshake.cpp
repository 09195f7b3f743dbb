#include "security/handshake.hpp"

#include <sodium.h>

#include <cstring>
#include <string_view>

namespace banyan::security {
namespace {

void putU32(std::uint8_t* at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

std::uint32_t getU32(const std::uint8_t* at) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<std::uint32_t>(at[i]) << (8 * i);
  return value;
}

Status checkShape(const std::uint8_t* data, std::size_t size, std::size_t expected, std::uint32_t magic,
                  const char* what) {
  if (data == nullptr || size != expected) {
    return Status::make(ErrorCode::Unauthenticated, "authentication {} of {} bytes, expected {}", what, size, expected);
  }
  const auto found = getU32(data);
  if (found != magic) {
    return Status::make(ErrorCode::Unauthenticated, "authentication {} has magic {:#010x}, expected {:#010x}", what,
                        found, magic);
  }
  return Status::ok();
}

}  // namespace

Nonce freshNonce() {
  initCrypto();
  Nonce nonce;
  randombytes_buf(nonce.data(), nonce.size());
  return nonce;
}

ChallengeBytes encodeChallenge(const Challenge& challenge) {
  ChallengeBytes bytes{};
  putU32(bytes.data(), kChallengeMagic);
  std::memcpy(bytes.data() + 4, challenge.serverNonce.data(), kNonceBytes);
  std::memcpy(bytes.data() + 4 + kNonceBytes, challenge.mac.data(), kMacBytes);
  return bytes;
}

ProofBytes encodeProof(const Proof& proof) {
  ProofBytes bytes{};
  putU32(bytes.data(), kProofMagic);
  std::memcpy(bytes.data() + 4, proof.mac.data(), kMacBytes);
  return bytes;
}

StoreHelloBytes encodeStoreHello(const StoreHello& hello) {
  StoreHelloBytes bytes{};
  putU32(bytes.data(), kStoreHelloMagic);
  putU32(bytes.data() + 4, kStoreHelloVersion);
  std::memcpy(bytes.data() + 8, hello.clientNonce.data(), kNonceBytes);
  return bytes;
}

Status decodeChallenge(const std::uint8_t* data, std::size_t size, Challenge& out) {
  if (auto status = checkShape(data, size, kChallengeSize, kChallengeMagic, "challenge"); !status) return status;
  std::memcpy(out.serverNonce.data(), data + 4, kNonceBytes);
  std::memcpy(out.mac.data(), data + 4 + kNonceBytes, kMacBytes);
  return Status::ok();
}

Status decodeProof(const std::uint8_t* data, std::size_t size, Proof& out) {
  if (auto status = checkShape(data, size, kProofSize, kProofMagic, "proof"); !status) return status;
  std::memcpy(out.mac.data(), data + 4, kMacBytes);
  return Status::ok();
}

Status decodeStoreHello(const std::uint8_t* data, std::size_t size, StoreHello& out) {
  if (auto status = checkShape(data, size, kStoreHelloSize, kStoreHelloMagic, "store hello"); !status) {
    return status;
  }
  const auto version = getU32(data + 4);
  if (version != kStoreHelloVersion) {
    return Status::make(ErrorCode::Unauthenticated, "store hello speaks version {}, this build speaks {}", version,
                        kStoreHelloVersion);
  }
  std::memcpy(out.clientNonce.data(), data + 8, kNonceBytes);
  return Status::ok();
}

Mac computeMac(const JobKey& key, Role role, std::span<const std::uint8_t> hello, const Nonce& clientNonce,
               const Nonce& serverNonce) {
  initCrypto();
  // The labels differ, so an acceptor's MAC can never be reflected back as a connector's.
  const std::string_view label = role == Role::Acceptor ? "banyan acceptor v1" : "banyan connector v1";
  std::uint8_t helloLength[4];
  putU32(helloLength, static_cast<std::uint32_t>(hello.size()));
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.bytes.data(), key.bytes.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(label.data()), label.size());
  crypto_auth_hmacsha256_update(&state, helloLength, sizeof helloLength);
  crypto_auth_hmacsha256_update(&state, hello.data(), hello.size());
  crypto_auth_hmacsha256_update(&state, clientNonce.data(), clientNonce.size());
  crypto_auth_hmacsha256_update(&state, serverNonce.data(), serverNonce.size());
  Mac mac;
  crypto_auth_hmacsha256_final(&state, mac.data());
  sodium_memzero(&state, sizeof state);
  return mac;
}

bool verifyMac(const JobKey& key, Role role, std::span<const std::uint8_t> hello, const Nonce& clientNonce,
               const Nonce& serverNonce, const Mac& mac) {
  const Mac expected = computeMac(key, role, hello, clientNonce, serverNonce);
  return crypto_verify_32(expected.data(), mac.data()) == 0;
}

}  // namespace banyan::security
