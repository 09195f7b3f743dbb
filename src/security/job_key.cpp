#include "security/job_key.hpp"

#include <sodium.h>

namespace banyan::security {

void initCrypto() {
  // sodium_init() is thread-safe and returns 1 when already done; -1 only if the random
  // source cannot be opened.
  if (sodium_init() < 0) fail(ErrorCode::System, "libsodium could not be initialised (no random source?)");
}

JobKey deriveKey(std::string_view passphrase) {
  initCrypto();
  static constexpr std::string_view kLabel = "banyan job key from BANYAN_AUTH_KEY v1";
  JobKey key;
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(passphrase.data()), passphrase.size());
  crypto_auth_hmacsha256_final(&state, key.bytes.data());
  sodium_memzero(&state, sizeof state);
  return key;
}

JobKey randomKey() {
  initCrypto();
  JobKey key;
  randombytes_buf(key.bytes.data(), key.bytes.size());
  return key;
}

std::string toHex(const JobKey& key) {
  std::string text(2 * kKeyBytes + 1, '\0');
  sodium_bin2hex(text.data(), text.size(), key.bytes.data(), key.bytes.size());
  text.pop_back();
  return text;
}

Status fromHex(std::string_view text, const char* what, JobKey& out) {
  if (text.size() != 2 * kKeyBytes) {
    return Status::make(ErrorCode::InvalidUsage, "{}: a job key is {} hex digits, this one has {} characters", what,
                        2 * kKeyBytes, text.size());
  }
  for (char c : text) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return Status::make(ErrorCode::InvalidUsage, "{}: a job key is hex digits only", what);
  }
  std::size_t written = 0;
  if (sodium_hex2bin(out.bytes.data(), out.bytes.size(), text.data(), text.size(), nullptr, &written, nullptr) != 0 ||
      written != kKeyBytes) {
    return Status::make(ErrorCode::InvalidUsage, "{}: not a job key", what);
  }
  return Status::ok();
}

}  // namespace banyan::security
