#include "security/key_source.hpp"

#include <atomic>
#include <mutex>
#include <string_view>

#include "common/log.hpp"

namespace banyan::security {
namespace {

std::mutex processKeyMutex;
std::optional<JobKey> processKey;
bool serverKeySet = false;
std::optional<JobKey> serverKey;

}  // namespace

void adoptProcessKey(std::optional<JobKey> key) {
  std::lock_guard lock(processKeyMutex);
  processKey = key;
}

std::optional<JobKey> configuredKey(const config::AuthSettings& auth) {
  if (!auth.enabled) return std::nullopt;
  if (!auth.passphrase.empty()) return deriveKey(auth.passphrase);
  {
    std::lock_guard lock(processKeyMutex);
    if (processKey) return processKey;
  }
  if (!auth.jobKeyHex.empty()) {
    JobKey key;
    fromHex(auth.jobKeyHex, "BANYAN_JOB_KEY", key).throwIfError();
    return key;
  }
  return std::nullopt;
}

std::optional<JobKey> configuredKey() { return configuredKey(config::resolveAuth()); }

std::optional<JobKey> storeServerKey() {
  {
    std::lock_guard lock(processKeyMutex);
    if (serverKeySet) return serverKey;
  }
  return configuredKey();
}

ScopedServerKey::ScopedServerKey(std::optional<JobKey> key) {
  std::lock_guard lock(processKeyMutex);
  serverKeySet = true;
  serverKey = key;
}

ScopedServerKey::~ScopedServerKey() {
  std::lock_guard lock(processKeyMutex);
  serverKeySet = false;
  serverKey.reset();
}

std::optional<JobKey> communicatorKey(const config::AuthSettings& auth, Store& store, int rank,
                                      const std::string& keyName, std::chrono::milliseconds timeout) {
  if (!auth.enabled) return std::nullopt;
  // What rank 0 publishes when it holds a key of its own: a marker, never the key, so that a
  // rank without one fails at once with a clear error instead of waiting for a key in the store.
  static constexpr std::string_view kConfigured = "configured elsewhere (BANYAN_AUTH_KEY or the launcher)";
  if (auto key = configuredKey(auth)) {
    if (rank == 0) store.set(keyName, Store::Bytes(kConfigured.begin(), kConfigured.end()), timeout);
    return key;
  }
  if (rank == 0) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) {
      log::info(log::Where{log::Subsystem::Init, rank},
                "auth: no BANYAN_AUTH_KEY and no launcher key: the job key travels through the store, which is "
                "the trust anchor (anyone who can read the store can join); set BANYAN_AUTH_KEY to close that");
    }
    const std::string hex = toHex(randomKey());
    store.set(keyName, Store::Bytes(hex.begin(), hex.end()), timeout);
  }
  const auto bytes = store.get(keyName, timeout);
  JobKey key;
  const std::string hex(bytes.begin(), bytes.end());
  if (hex == kConfigured) {
    fail(ErrorCode::Unauthenticated,
         "rank {}: rank 0 holds a job key of its own (BANYAN_AUTH_KEY or its launcher's) and this rank has none: "
         "set the same BANYAN_AUTH_KEY for every rank",
         rank);
  }
  if (auto status = fromHex(hex, "the job key in the store", key); !status) {
    fail(ErrorCode::Remote, "the store holds a malformed '{}' (another program uses these keys?): {}", keyName,
         status.message());
  }
  return key;
}

}  // namespace banyan::security
