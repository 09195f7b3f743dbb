#pragma once
// The one place BANYAN_* variables are read. Every variable is a row of variables() (which
// docs/configuration.md mirrors; a test checks they agree), and resolve() turns Options plus
// the environment plus defaults into the Config the runtime uses.

#include "common/log_level.hpp"

#include <banyan/options.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace banyan::config {

// Authentication (docs/security.md). Read apart from the rest because the TcpStore client and
// server need it without a communicator's whole Config.
struct AuthSettings {
  bool enabled = true;     // BANYAN_AUTH: on (default) | off
  std::string passphrase;  // BANYAN_AUTH_KEY: any text; the key is derived from it (never sent)
  std::string jobKeyHex;   // BANYAN_JOB_KEY: 64 hex digits, set by banyan's launcher for its ranks
};

// BANYAN_AUTH, BANYAN_AUTH_KEY, BANYAN_JOB_KEY. Throws InvalidUsage for a BANYAN_AUTH that is
// neither on nor off.
AuthSettings resolveAuth();
// "on"/"off" (also 1/0, yes/no, true/false) -> whether authentication is on.
bool parseAuthSwitch(const std::string& text, const char* what);

// BANYAN_STORE_LINGER (bootstrap::ServingStore): 0 means no wait. Read apart from the rest for
// the same reason as resolveAuth(). Throws InvalidUsage for a value that is not a duration.
std::chrono::milliseconds resolveStoreLinger();

struct Config {
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  std::string transport = "auto";       // auto | tcp | shm | ofi
  std::string ofiProvider;              // BANYAN_OFI_PROVIDER; empty: choose (transports/ofi/provider.hpp)
  std::string ofiModule;                // BANYAN_OFI_MODULE; empty: find it (transports/ofi/ofi_loader.hpp)
  std::size_t ofiRmaBytes = 64 * 1024;  // 0: never RMA
  bool ofiRmaBytesSet = false;          // set by the user (else per-provider defaults apply)
  bool ofiRmaByMessage = false;         // debug: announce RMA writes by message, not CQ data
  std::size_t ofiRegistrationCache = 64;
  std::size_t crossMemoryBytes = 64 * 1024;  // 0: never
  bool shmCollectives = true;
  bool shareConnections = true;  // BANYAN_SHARE_CONNECTIONS: groups use their family's connections
  bool checkCalls = true;        // BANYAN_CHECK: peers compare each call's fingerprint
  std::size_t sliceBytes = 1024 * 1024;
  std::size_t p2pEagerBytes = 64 * 1024;  // larger point-to-point messages wait for their receive
  int socketsPerPeer = 1;
  std::size_t socketBufferBytes = 4 * 1024 * 1024;
  std::string tcpCongestion = "system";  // BANYAN_TCP_CONGESTION: auto, system or a name (tcp_congestion.hpp)
  std::string socketAddr;                // empty: derive from the store connection
  log::LogLevel logLevel = log::LogLevel::Warn;
  unsigned logSubsystems = log::kAllSubsystems;  // bit(log::Subsystem) set: its INFO/TRACE lines print
  // Flight recorder (src/observe/): where each communicator's ring of recent operations is
  // written (empty: no recording), and how many operations the ring keeps.
  std::string flightRecorderPath;
  std::size_t flightRecorderSize = 2000;
  std::string tracePath;  // BANYAN_TRACE: Chrome trace-event file pattern; empty: no tracing
  // Selection and topology: the BANYAN_ALGO text (parsed by tuning::parseAlgoOverride) and
  // where it came from (for its error messages), a topology file to load instead of probing,
  // and one to write.
  std::string algo;
  std::string algoSource = "BANYAN_ALGO";
  std::string topoFile;
  std::string topoDumpFile;
  // BANYAN_TUNE_FILE (or Options::tuneFile): a measured tuning table (tuning/tune_table.hpp);
  // empty: none, the cost model decides.
  std::string tuneFile;
  // BANYAN_DETERMINISTIC (or Options::deterministic): allreduce, reduce-scatter and reduce give
  // the same bits whatever algorithm, size band or transport (docs/numerics.md).
  bool deterministic = false;
  // How long the progress thread and blocking waits poll before they sleep.
  // Unset: 50 us when ranks do not outnumber cores, else 200 us yielding (see CommunicatorImpl).
  std::optional<std::chrono::microseconds> spin;
  // The control channel's heartbeats (resilience/control_plane.hpp): period (0: none) and how
  // many may be missed before a neighbour is declared lost.
  std::chrono::milliseconds heartbeat{1000};
  int heartbeatMisses = 5;
  AuthSettings auth;
};

struct Variable {
  const char* name;          // BANYAN_...
  const char* defaultValue;  // as documented
  const char* meaning;
};

// Every variable banyan reads, including the bootstrap ones (BANYAN_RANK, ...).
std::span<const Variable> variables();

// Options first, then the environment, then defaults. Throws Error(InvalidUsage) naming the
// variable (or Options field) and the bad value.
Config resolve(const Options& options);

// Parsers shared with the command-line tools.
// "300", "300s", "1500ms", "5m" -> milliseconds (bare numbers are seconds).
std::chrono::milliseconds parseDuration(const std::string& text, const char* what);
// "65536", "64K", "4M", "1G" (powers of 1024).
std::size_t parseBytes(const std::string& text, const char* what);
log::LogLevel parseLogLevel(const std::string& text, const char* what);
// "init,coll", "all", "^transport" (all but those listed) -> a mask of bit(log::Subsystem).
unsigned parseSubsystems(const std::string& text, const char* what);

}  // namespace banyan::config
