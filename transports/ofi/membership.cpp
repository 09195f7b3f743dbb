#include "transports/ofi/membership.hpp"

#include <sodium.h>

#include <cstddef>
#include <string_view>

#include "common/log.hpp"

namespace banyan::transport::ofi {

std::uint64_t randomRegistrationKey(std::size_t keyBytes) {
  std::uint64_t key = 0;
  randombytes_buf(&key, sizeof key);
  if (keyBytes < sizeof key) key &= (std::uint64_t{1} << (8 * keyBytes)) - 1;
  return key;
}

namespace {

// The MAC of `message` (all but its mac field) for rank `to`.
void macOf(const ControlMessage& message, int to, const security::JobKey& key, unsigned char out[32]) {
  static constexpr std::string_view kLabel = "banyan ofi control v1";
  const std::int32_t receiver = to;
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key.bytes.data(), key.bytes.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(kLabel.data()), kLabel.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(&receiver), sizeof receiver);
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(&message),
                                offsetof(ControlMessage, mac));
  crypto_auth_hmacsha256_final(&state, out);
}

}  // namespace

static_assert(offsetof(ControlMessage, mac) == 64, "the MAC covers every field before it, with no padding");

void seal(ControlMessage& message, int to, const security::JobKey& key) { macOf(message, to, key, message.mac); }

bool sealed(const ControlMessage& message, int to, const security::JobKey& key) {
  unsigned char expected[32];
  macOf(message, to, key, expected);
  return crypto_verify_32(expected, message.mac) == 0;
}

void StrangerLog::dropped(const std::string& provider, const std::string& what) {
  ++count_;
  const auto now = std::chrono::steady_clock::now();
  if (reported_ != 0 && now - lastReport_ < std::chrono::seconds(1)) return;
  log::warn(rank_,
            "ofi ({}): dropped {}: not from a rank of this job (another source address, or no proof of the job key) "
            "({} such message(s) dropped since the last report, {} in all)",
            provider, what, count_ - reported_, count_);
  reported_ = count_;
  lastReport_ = now;
}

}  // namespace banyan::transport::ofi
