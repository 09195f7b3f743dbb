#pragma once
// Where a process's job key comes from, in order (docs/security.md):
//   1. BANYAN_AUTH=off: none; nothing is authenticated.
//   2. BANYAN_AUTH_KEY: derived from the text (never sent anywhere).
//   3. A key a bootstrap adopted for this process (banyan-mpi: rank 0 draws it, MPI_Bcast).
//   4. BANYAN_JOB_KEY: the key banyan's local launcher drew and put in its ranks' environment.
//   5. Otherwise, for a communicator: rank 0 draws one and publishes it in the store, which
//      then is the trust anchor (communicatorKey()).
// Store servers and clients use 1-4 only: without a key known beforehand the store stays open.

#include <banyan/store.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "security/job_key.hpp"

namespace banyan::security {

// Steps 1-4. Throws InvalidUsage for a malformed BANYAN_JOB_KEY.
std::optional<JobKey> configuredKey(const config::AuthSettings& auth);
// The same from the environment alone (store clients and servers).
std::optional<JobKey> configuredKey();

// Step 3: the process's bootstrap adopts `key` (or forgets it: nullopt). Call before creating
// the stores and communicators that should use it.
void adoptProcessKey(std::optional<JobKey> key);

// The key a TcpStoreServer demands proof of: configuredKey(), unless the process that starts the
// server (banyan's launcher) set the one its children will hold with a ScopedServerKey.
std::optional<JobKey> storeServerKey();
class ScopedServerKey {
 public:
  explicit ScopedServerKey(std::optional<JobKey> key);
  ~ScopedServerKey();
  ScopedServerKey(const ScopedServerKey&) = delete;
  ScopedServerKey& operator=(const ScopedServerKey&) = delete;
};

// Steps 1-5 for one communicator; `keyName` is the store key rank 0 publishes under when no key
// is configured. Every rank must make the same choice, which they do when they share the
// environment variables above (a rank with BANYAN_AUTH_KEY set among ranks without fails to
// authenticate, with an error that says so).
std::optional<JobKey> communicatorKey(const config::AuthSettings& auth, Store& store, int rank,
                                      const std::string& keyName, std::chrono::milliseconds timeout);

}  // namespace banyan::security
