#pragma once
// The job key: 32 secret bytes every member of a job holds and no stranger does. Connections
// and store sessions prove they hold it (security/handshake.hpp) without sending it.
//
// Where a process gets it (security/key_source.hpp decides): BANYAN_AUTH_KEY (any text, hashed
// here with a domain label), else the key banyan's launcher drew for the job and handed its
// children (BANYAN_JOB_KEY, hex), else one rank 0 draws and publishes through the store.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace banyan::security {

inline constexpr std::size_t kKeyBytes = 32;

struct JobKey {
  std::array<std::uint8_t, kKeyBytes> bytes{};
  bool operator==(const JobKey&) const = default;
};

// Makes sure libsodium is initialised (thread-safe, idempotent); throws System if it cannot be.
void initCrypto();

// HMAC-SHA256 keyed by a fixed domain label over the passphrase: the same text gives the same
// key in every process, and the key is useless for any other purpose that hashes the text.
JobKey deriveKey(std::string_view passphrase);

// 32 bytes from the operating system's random source.
JobKey randomKey();

// 64 lowercase hex digits, and back. fromHex refuses (Status InvalidUsage naming `what`) any
// text that is not exactly 64 hex digits.
std::string toHex(const JobKey& key);
Status fromHex(std::string_view text, const char* what, JobKey& out);

}  // namespace banyan::security
