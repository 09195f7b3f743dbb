#include "config/config.hpp"

#include "common/status.hpp"

#include <array>
#include <cctype>
#include <cstdlib>
#include <limits>

namespace banyan::config {
namespace {

constexpr std::array<Variable, 18> kVariables{{
    {"BANYAN_TIMEOUT", "300s",
     "Deadline for every wait: connects, store calls, collectives. Seconds, or with a unit "
     "(ms, s, m)."},
    {"BANYAN_TRANSPORT", "auto",
     "Transport between ranks. auto: shared memory (shm) between ranks of one host, TCP between "
     "hosts. tcp or shm forces one for every pair (shm needs every rank on one host)."},
    {"BANYAN_HOST_ID", "(hostname/boot id)",
     "Which host this rank counts as on; ranks with equal ids talk through shared memory. Set it "
     "to tell apart ranks in different network namespaces of one machine."},
    {"BANYAN_SHM_CMA_BYTES", "64K",
     "Shared-memory messages of at least this size are copied once, straight from the sender's "
     "memory (process_vm_readv), where the kernel allows it; smaller ones go through the ring. "
     "0 never uses it."},
    {"BANYAN_SHM_COLLECTIVES", "1",
     "1: when every rank is on one host, allreduce and allgather work directly in shared memory "
     "(see docs/shared-memory.md); 0: they run as messages over the transport."},
    {"BANYAN_SLICE_BYTES", "1M",
     "Largest pipeline slice of ring algorithms (bytes, K/M/G suffixes); smaller messages get "
     "smaller slices, about four per chunk, down to 64K."},
    {"BANYAN_SOCKETS_PER_PEER", "1",
     "TCP connections per peer pair; messages of 1 MiB and more are striped across them."},
    {"BANYAN_SOCKET_BUFFER", "4M",
     "Send and receive buffer of each TCP connection (bytes, K/M suffixes; the kernel caps it at "
     "net.core.wmem_max/rmem_max). 0 leaves it to the kernel's autotuning."},
    {"BANYAN_SOCKET_ADDR", "(address used to reach the store)",
     "Local IP address the TCP transport listens on."},
    {"BANYAN_SPIN_US", "auto",
     "Microseconds a waiting rank polls before it sleeps; 0 never spins. auto: 50 (busy) when "
     "ranks do not outnumber cores, else 200 polling with sched_yield."},
    {"BANYAN_DEBUG", "warn", "Log level: none, warn, info, trace. Logs go to stderr."},
    {"BANYAN_ALGO", "(unset)",
     "Forces algorithms per collective and size band, e.g. allreduce:0-64K:recursive-doubling,64K-:ring;"
     "allgather:0-32K:bruck. Sizes not covered are left to the cost model (see docs/topology.md)."},
    {"BANYAN_TOPO_FILE", "(unset)",
     "Load the topology from this file (as written by BANYAN_TOPO_DUMP_FILE or banyan-topo --save) "
     "instead of probing; every rank reads it."},
    {"BANYAN_TOPO_DUMP_FILE", "(unset)", "Rank 0 writes the probed topology to this file."},
    {"BANYAN_RANK", "(unset)", "Bootstrap: this process's rank (set by banyan's launcher)."},
    {"BANYAN_SIZE", "(unset)", "Bootstrap: number of ranks in the job."},
    {"BANYAN_STORE_ADDR", "(unset)", "Bootstrap: host:port of the job's TCP store."},
    {"BANYAN_STORE_PREFIX", "(unset)",
     "Bootstrap: prefix for this job's store keys, so jobs can share one store server."},
}};

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? value : nullptr;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Splits "64K" into (64, 'k'); throws on anything but digits followed by an optional suffix.
std::pair<unsigned long long, std::string> numberAndSuffix(const std::string& text, const char* what) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 18) {
    fail(ErrorCode::InvalidUsage, "{}: '{}' is not a number", what, text);
  }
  return {std::stoull(text.substr(0, digits)), lower(text.substr(digits))};
}

int parsePositiveInt(const std::string& text, const char* what, int max) {
  auto [value, suffix] = numberAndSuffix(text, what);
  if (!suffix.empty() || value < 1 || value > static_cast<unsigned long long>(max)) {
    fail(ErrorCode::InvalidUsage, "{}: '{}' must be an integer from 1 to {}", what, text, max);
  }
  return static_cast<int>(value);
}

}  // namespace

std::span<const Variable> variables() { return kVariables; }

std::chrono::milliseconds parseDuration(const std::string& text, const char* what) {
  auto [value, suffix] = numberAndSuffix(text, what);
  unsigned long long ms = 0;
  if (suffix.empty() || suffix == "s") {
    ms = value * 1000;
  } else if (suffix == "ms") {
    ms = value;
  } else if (suffix == "m" || suffix == "min") {
    ms = value * 60'000;
  } else {
    fail(ErrorCode::InvalidUsage, "{}: '{}' has an unknown unit (use ms, s or m)", what, text);
  }
  if (ms == 0) fail(ErrorCode::InvalidUsage, "{}: '{}' must be more than 0", what, text);
  return std::chrono::milliseconds(ms);
}

std::size_t parseBytes(const std::string& text, const char* what) {
  auto [value, suffix] = numberAndSuffix(text, what);
  unsigned shift = 0;
  if (suffix == "k" || suffix == "kb" || suffix == "kib") {
    shift = 10;
  } else if (suffix == "m" || suffix == "mb" || suffix == "mib") {
    shift = 20;
  } else if (suffix == "g" || suffix == "gb" || suffix == "gib") {
    shift = 30;
  } else if (!suffix.empty() && suffix != "b") {
    fail(ErrorCode::InvalidUsage, "{}: '{}' has an unknown suffix (use K, M or G)", what, text);
  }
  if (value > (std::numeric_limits<std::size_t>::max() >> shift)) {
    fail(ErrorCode::InvalidUsage, "{}: '{}' is too large", what, text);
  }
  return static_cast<std::size_t>(value) << shift;
}

LogLevel parseLogLevel(const std::string& text, const char* what) {
  const std::string value = lower(text);
  if (value == "none" || value == "off") return LogLevel::None;
  if (value == "warn" || value == "warning") return LogLevel::Warn;
  if (value == "info") return LogLevel::Info;
  if (value == "trace" || value == "debug") return LogLevel::Trace;
  fail(ErrorCode::InvalidUsage, "{}: '{}' is not a log level (none, warn, info, trace)", what, text);
}

Config resolve(const Options& options) {
  Config config;

  if (options.timeout) {
    if (options.timeout->count() <= 0) {
      fail(ErrorCode::InvalidUsage, "Options::timeout must be positive, got {} ms",
           options.timeout->count());
    }
    config.timeout = *options.timeout;
  } else if (const char* v = env("BANYAN_TIMEOUT")) {
    config.timeout = parseDuration(v, "BANYAN_TIMEOUT");
  }

  std::string transport = options.transport.value_or(env("BANYAN_TRANSPORT") ? env("BANYAN_TRANSPORT") : "auto");
  transport = lower(transport);
  if (transport != "auto" && transport != "tcp" && transport != "shm") {
    fail(ErrorCode::NotSupported, "transport '{}' (from {}) is not available in this build; available: auto, tcp, shm",
         transport, options.transport ? "Options::transport" : "BANYAN_TRANSPORT");
  }
  config.transport = transport;

  if (options.crossMemoryBytes) {
    config.crossMemoryBytes = *options.crossMemoryBytes;
  } else if (const char* v = env("BANYAN_SHM_CMA_BYTES")) {
    config.crossMemoryBytes = parseBytes(v, "BANYAN_SHM_CMA_BYTES");
  }

  if (options.shmCollectives) {
    config.shmCollectives = *options.shmCollectives;
  } else if (const char* v = env("BANYAN_SHM_COLLECTIVES")) {
    const std::string value = lower(v);
    if (value != "0" && value != "1") {
      fail(ErrorCode::InvalidUsage, "BANYAN_SHM_COLLECTIVES: '{}' must be 0 or 1", v);
    }
    config.shmCollectives = value == "1";
  }

  if (options.sliceBytes) {
    config.sliceBytes = *options.sliceBytes;
  } else if (const char* v = env("BANYAN_SLICE_BYTES")) {
    config.sliceBytes = parseBytes(v, "BANYAN_SLICE_BYTES");
  }
  if (config.sliceBytes < 64 || config.sliceBytes > (std::size_t{1} << 30)) {
    fail(ErrorCode::InvalidUsage, "slice size {} bytes is outside 64 B .. 1 GiB (BANYAN_SLICE_BYTES)",
         config.sliceBytes);
  }

  if (options.socketsPerPeer) {
    if (*options.socketsPerPeer < 1 || *options.socketsPerPeer > 64) {
      fail(ErrorCode::InvalidUsage, "Options::socketsPerPeer must be 1..64, got {}", *options.socketsPerPeer);
    }
    config.socketsPerPeer = *options.socketsPerPeer;
  } else if (const char* v = env("BANYAN_SOCKETS_PER_PEER")) {
    config.socketsPerPeer = parsePositiveInt(v, "BANYAN_SOCKETS_PER_PEER", 64);
  }

  if (options.socketBufferBytes) {
    config.socketBufferBytes = *options.socketBufferBytes;
  } else if (const char* v = env("BANYAN_SOCKET_BUFFER")) {
    config.socketBufferBytes = parseBytes(v, "BANYAN_SOCKET_BUFFER");
  }
  if (config.socketBufferBytes > (std::size_t{1} << 30)) {
    fail(ErrorCode::InvalidUsage, "socket buffer {} bytes is more than 1 GiB (BANYAN_SOCKET_BUFFER)",
         config.socketBufferBytes);
  }

  if (options.socketAddr) {
    config.socketAddr = *options.socketAddr;
  } else if (const char* v = env("BANYAN_SOCKET_ADDR")) {
    config.socketAddr = v;
  }

  if (options.spin) {
    config.spin = *options.spin;
  } else if (const char* v = env("BANYAN_SPIN_US"); v != nullptr && lower(v) != "auto") {
    auto [value, suffix] = numberAndSuffix(v, "BANYAN_SPIN_US");
    if (!suffix.empty() || value > 1'000'000) {
      fail(ErrorCode::InvalidUsage, "BANYAN_SPIN_US: '{}' must be auto or 0..1000000 microseconds", v);
    }
    config.spin = std::chrono::microseconds(value);
  }

  if (const char* v = env("BANYAN_ALGO")) config.algo = v;
  if (const char* v = env("BANYAN_TOPO_FILE")) config.topoFile = v;
  if (const char* v = env("BANYAN_TOPO_DUMP_FILE")) config.topoDumpFile = v;

  if (options.debug) {
    config.logLevel = parseLogLevel(*options.debug, "Options::debug");
  } else if (const char* v = env("BANYAN_DEBUG")) {
    config.logLevel = parseLogLevel(v, "BANYAN_DEBUG");
  }
  return config;
}

}  // namespace banyan::config
