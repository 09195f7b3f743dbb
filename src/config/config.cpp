#include "config/config.hpp"

#include "common/status.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <limits>

namespace banyan::config {
namespace {

constexpr std::array<Variable, 40> kVariables{{
    {"BANYAN_TIMEOUT", "300s",
     "Deadline for every wait: connects, store calls, collectives. Seconds, or with a unit "
     "(ms, s, m)."},
    {"BANYAN_TRANSPORT", "auto",
     "Transport between ranks. auto: shared memory (shm) between ranks of one host; between hosts "
     "libfabric (ofi) where a real fabric (or BANYAN_OFI_PROVIDER) is found, else TCP. tcp, shm "
     "or ofi forces one for every pair (shm needs every rank on one host; ofi needs a build with "
     "libfabric)."},
    {"BANYAN_OFI_PROVIDER", "(fastest real fabric)",
     "libfabric provider of the ofi transport, any fi_info name (verbs;ofi_rxm, efa, cxi, "
     "tcp;ofi_rxm, sockets, shm, ...). Unset: the fastest RDMA fabric found; software providers "
     "only when BANYAN_TRANSPORT=ofi forces libfabric."},
    {"BANYAN_OFI_RMA_BYTES", "64K (shm provider: 0)",
     "ofi messages of at least this size are RMA-written into the receiver's registered buffer "
     "where the provider has RMA; smaller ones are tagged sends. 0 never uses RMA. Unset with "
     "the shm provider: 0 (its tagged messages use a single cross-memory copy anyway; the 4+ "
     "rank RMA failure once given as the reason was a libfabric 1.17 completion fault that "
     "banyan now works around: docs/ofi.md, \"Three shm bugs\")."},
    {"BANYAN_OFI_MR_CACHE", "64",
     "Memory registrations the ofi transport keeps for reuse across calls; 0 deregisters each "
     "buffer after use."},
    {"BANYAN_OFI_MODULE", "(beside libbanyan)",
     "Path of the ofi transport's module (libbanyan-ofi.so), which banyan loads only when ofi is "
     "forced, a provider is named, or a fabric device is found (docs/ofi.md, \"Loading the "
     "module\"). Unset: libbanyan-ofi.so in libbanyan's own directory, else in the build "
     "directory banyan was built in."},
    {"BANYAN_OFI_RMA_NOTIFY", "data",
     "Debug: how an RMA receiver learns the write is complete. data: remote CQ data where the "
     "provider has it; message: a completion message after a delivery-complete write."},
    {"BANYAN_HOST_ID", "(hostname/boot id)",
     "Which host this rank counts as on; ranks with equal ids talk through shared memory. Set it "
     "to tell apart ranks in different network namespaces of one machine."},
    {"BANYAN_SHM_CMA_BYTES", "64K",
     "Shared-memory messages of at least this size are copied once, straight from the sender's "
     "memory (process_vm_readv), where the kernel allows it; smaller ones go through the ring. "
     "0 never uses it. Where Yama's ptrace_scope is 1, using it lets any process of the same "
     "user read this one (PR_SET_PTRACER_ANY, process-wide); 0 leaves that setting alone."},
    {"BANYAN_SHM_COLLECTIVES", "1",
     "1: when every rank is on one host, allreduce, reduce_scatter, allgather, broadcast, alltoall, gather and "
     "scatter work directly in shared memory (see docs/shared-memory.md); 0: they run as messages over the "
     "transport."},
    {"BANYAN_SHARE_CONNECTIONS", "1",
     "1: a communicator made from another (split, subset, a torch group) sends over its family's TCP connections "
     "and shared-memory rings, each message marked with its communicator, instead of opening its own (see "
     "docs/architecture.md, \"Groups over their parent's connections\"); 0: it opens its own."},
    {"BANYAN_CHECK", "1",
     "1: every collective carries a fingerprint of the call (kind, sequence number, count, type, "
     "op, root) that its peers check, so ranks in different calls fail with an error naming both; "
     "0: no check (mismatched calls may then mix data silently). See docs/errors.md."},
    {"BANYAN_SLICE_BYTES", "1M",
     "Largest pipeline slice of ring algorithms (bytes, K/M/G suffixes); smaller messages get "
     "smaller slices, about four per chunk, down to 64K."},
    {"BANYAN_P2P_EAGER_BYTES", "64K",
     "Point-to-point messages up to this size go at once and wait at the receiver if no receive "
     "is posted yet; larger ones wait at the sender until the receive is posted (rendezvous)."},
    {"BANYAN_SOCKETS_PER_PEER", "1",
     "TCP connections per peer pair; messages of 1 MiB and more are striped across them."},
    {"BANYAN_SOCKET_BUFFER", "4M",
     "Send and receive buffer of each TCP connection (bytes, K/M suffixes; the kernel caps it at "
     "net.core.wmem_max/rmem_max). 0 leaves it to the kernel's autotuning."},
    {"BANYAN_TCP_CONGESTION", "system",
     "Congestion control of banyan's TCP data connections. system: as the system sets it; auto: "
     "a connection the system gives bbr uses cubic instead, any other stays (bbr paced 64 KiB "
     "recursive-doubling exchanges 1.2-3.6x slower than cubic between netns hosts at 1 Gbit/s, "
     "while the default algorithms' sweep showed no consistent difference: bench/RESULTS.md); a "
     "name (cubic, reno, dctcp, ...): every data connection, refused at creation unless the "
     "kernel lists it in tcp_available_congestion_control."},
    {"BANYAN_SOCKET_ADDR", "(address used to reach the store)",
     "Local IP address (IPv4, or IPv6 bare or in brackets: `fd00:ba::2`, `[::1]`) the TCP transport and the control "
     "channel listen on; its family is the one this rank publishes (see \"Address family\" below). Link-local IPv6 "
     "(fe80::/10, or any scope id `%eth0`) is refused."},
    {"BANYAN_SPIN_US", "auto",
     "Microseconds a waiting rank polls before it sleeps; 0 never spins. auto: 50 (busy) when "
     "ranks do not outnumber cores, else 200 polling with sched_yield."},
    {"BANYAN_HEARTBEAT_MS", "1000",
     "Period of the liveness heartbeats on each communicator's control channel (docs/fault-tolerance.md): "
     "each rank sends one to its two nearest live neighbours and watches theirs. 0: no heartbeats (a stopped "
     "rank is then found only by BANYAN_TIMEOUT)."},
    {"BANYAN_HEARTBEAT_MISSES", "5",
     "Heartbeat periods a neighbour may stay silent before it is declared lost (stopped responding); the "
     "liveness window is BANYAN_HEARTBEAT_MS x this. Keep it well above any pause a rank may take (a debugger "
     "stop counts as one)."},
    {"BANYAN_DEBUG", "warn",
     "Log level: none, warn, info, trace. Logs go to stderr, each line prefixed with host, pid, "
     "rank, communicator and subsystem."},
    {"BANYAN_DEBUG_SUBSYS", "all",
     "Subsystems whose INFO and TRACE lines print: a comma list of init, bootstrap, transport, "
     "tuning, coll, observe, or all; a leading ^ prints all but those listed. WARN lines always print."},
    {"BANYAN_FLIGHT_RECORDER", "(unset)",
     "Path pattern of the flight recorder's JSON dumps (%r rank, %c communicator number, %p pid, "
     "%h host); when set, each communicator keeps its last operations and writes them on a "
     "timeout, a failure, a close with work pending, or SIGUSR1. tools/banyan-flight reads them."},
    {"BANYAN_TRACE", "(unset)",
     "Path pattern (as BANYAN_FLIGHT_RECORDER's) of a Chrome trace-event JSON file per rank and "
     "communicator: operation spans, and each send, receive and reduce step; opens in Perfetto. "
     "tools/banyan-trace-merge joins the ranks' files into one."},
    {"BANYAN_FLIGHT_RECORDER_SIZE", "2000", "Operations each communicator's flight recorder keeps (1 to 1000000)."},
    {"BANYAN_ALGO", "(unset)",
     "Forces algorithms per collective and size band, e.g. allreduce:0-64K:recursive-doubling,64K-:ring;"
     "allgather:0-32K:bruck. A band wins over the one-host shared-memory engine, which bands can also name "
     "as shm. Sizes not covered are left to the engine (one host) or the cost model (see docs/topology.md). "
     "Options::algo, when set, replaces it as a whole."},
    {"BANYAN_TOPO_FILE", "(unset)",
     "Load the topology from this file (as written by BANYAN_TOPO_DUMP_FILE or banyan-topo --save) "
     "instead of probing; every rank reads it. Options::topoFile, when set, replaces it (an empty string "
     "probes)."},
    {"BANYAN_TOPO_DUMP_FILE", "(unset)", "Rank 0 writes the probed topology to this file."},
    {"BANYAN_TUNE_FILE", "(unset)",
     "A measured tuning table (banyan-algo-compare --tune-out writes one): per collective and size band, the "
     "algorithm that measured fastest on the layout (hosts x ranks per host) it names. Followed where it covers a "
     "call, after BANYAN_ALGO's bands; ignored, with an INFO line saying why, on another layout. Every rank must "
     "read the same table (checked through the store at creation). Options::tuneFile, when set, replaces it (an "
     "empty string: no table)."},
    {"BANYAN_DETERMINISTIC", "0",
     "1: allreduce, reduce_scatter and reduce give bitwise the same result for the same inputs whatever "
     "BANYAN_ALGO, the tuning table, the size band, BANYAN_SLICE_BYTES or the transport (for a given rank count, "
     "dtype and op): each element is folded in ascending rank order (docs/numerics.md). Those collectives then "
     "ignore BANYAN_ALGO bands and tuning tables (an INFO line says so). Options::deterministic, when set, replaces "
     "it."},
    {"BANYAN_AUTH", "on",
     "on: every TCP connection between ranks, and every session with a TcpStore that knows the job "
     "key, starts with a challenge-response proving both ends hold the job key (docs/security.md). "
     "off: no authentication (to measure its cost, or to talk to ranks that run with it off)."},
    {"BANYAN_AUTH_KEY", "(unset)",
     "Secret text shared by every rank of the job (and its store server); the 32-byte job key is "
     "derived from it and never sent. Unset: banyan's launcher draws a key per job, mpirun jobs "
     "broadcast one, and store-only bootstraps (torchrun, the torch backend) publish one in the "
     "store, which then is the trust anchor. Recommended wherever the store port is reachable by others."},
    {"BANYAN_JOB_KEY", "(set by the launcher)",
     "Internal: the job key (64 hex digits) banyan's local launcher drew for its ranks. Set "
     "BANYAN_AUTH_KEY instead."},
    {"BANYAN_RANK", "(unset)", "Bootstrap: this process's rank (set by banyan's launcher)."},
    {"BANYAN_SIZE", "(unset)", "Bootstrap: number of ranks in the job."},
    {"BANYAN_STORE_ADDR", "(unset)",
     "Bootstrap: host:port of the job's TCP store; an IPv6 address in brackets, `[::1]:29500`."},
    {"BANYAN_STORE_ROOTS", "(unset)",
     "Bootstrap, for the largest jobs: host:port,host:port,... of store roots beyond the job's store (root 0). Rank r "
     "keeps its keys on root r * k / n of k roots; creation gathers the host list in two levels. The first rank of a "
     "root's block serves it when the entry names its host (docs/launchers.md, \"Several store roots\")."},
    {"BANYAN_STORE_PREFIX", "(unset)",
     "Bootstrap: prefix for this job's store keys, so jobs can share one store server."},
    {"BANYAN_STORE_LINGER", "60s",
     "Where a rank's process serves the store (rank 0 under torchrun's variables, mpirun, PMIx or Slurm; the lowest "
     "survivor for a shrunk communicator), how long that process, as it lets go of the store, waits for the other "
     "ranks to let go of theirs: they look peers' addresses up in it on first contact. A WARN line says so after 5 s. "
     "0: no wait."},
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

// A 0/1 switch (BANYAN_CHECK, BANYAN_SHM_COLLECTIVES, BANYAN_DETERMINISTIC).
bool parseZeroOne(const char* text, const char* what) {
  const std::string value = lower(text);
  if (value != "0" && value != "1") fail(ErrorCode::InvalidUsage, "{}: '{}' must be 0 or 1", what, text);
  return value == "1";
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

log::LogLevel parseLogLevel(const std::string& text, const char* what) {
  const std::string value = lower(text);
  if (value == "none" || value == "off") return log::LogLevel::None;
  if (value == "warn" || value == "warning") return log::LogLevel::Warn;
  if (value == "info") return log::LogLevel::Info;
  if (value == "trace" || value == "debug") return log::LogLevel::Trace;
  fail(ErrorCode::InvalidUsage, "{}: '{}' is not a log level (none, warn, info, trace)", what, text);
}

unsigned parseSubsystems(const std::string& text, const char* what) {
  std::string list = lower(text);
  const bool except = !list.empty() && list.front() == '^';
  if (except) list.erase(0, 1);
  unsigned mask = 0;
  std::size_t begin = 0;
  while (begin <= list.size()) {
    const std::size_t end = std::min(list.find(',', begin), list.size());
    const std::string name = list.substr(begin, end - begin);
    begin = end + 1;
    if (name == "all") {
      mask = log::kAllSubsystems;
      continue;
    }
    bool known = false;
    for (unsigned s = 0; (1u << s) & log::kAllSubsystems; ++s) {
      if (name == log::toString(static_cast<log::Subsystem>(s))) {
        mask |= 1u << s;
        known = true;
      }
    }
    if (!known) {
      fail(ErrorCode::InvalidUsage,
           "{}: '{}' names an unknown subsystem '{}' (known: init, bootstrap, transport, tuning, coll, observe, all)",
           what, text, name);
    }
  }
  return except ? log::kAllSubsystems & ~mask : mask;
}

bool parseAuthSwitch(const std::string& text, const char* what) {
  const std::string value = lower(text);
  if (value == "off" || value == "0" || value == "no" || value == "false") return false;
  if (value == "on" || value == "1" || value == "yes" || value == "true") return true;
  fail(ErrorCode::InvalidUsage, "{}: '{}' must be on or off", what, text);
}

AuthSettings resolveAuth() {
  AuthSettings auth;
  if (const char* v = env("BANYAN_AUTH")) auth.enabled = parseAuthSwitch(v, "BANYAN_AUTH");
  if (const char* v = env("BANYAN_AUTH_KEY")) auth.passphrase = v;
  if (const char* v = env("BANYAN_JOB_KEY")) auth.jobKeyHex = v;
  return auth;
}

std::chrono::milliseconds resolveStoreLinger() {
  const char* v = env("BANYAN_STORE_LINGER");
  if (v == nullptr) return std::chrono::seconds(60);
  if (std::string(v) == "0") return std::chrono::milliseconds(0);
  return parseDuration(v, "BANYAN_STORE_LINGER");
}

Config resolve(const Options& options) {
  Config config;
  config.auth = resolveAuth();

  if (options.timeout) {
    if (options.timeout->count() <= 0) {
      fail(ErrorCode::InvalidUsage, "Options::timeout must be positive, got {} ms", options.timeout->count());
    }
    config.timeout = *options.timeout;
  } else if (const char* v = env("BANYAN_TIMEOUT")) {
    config.timeout = parseDuration(v, "BANYAN_TIMEOUT");
  }

  std::string transport = options.transport.value_or(env("BANYAN_TRANSPORT") ? env("BANYAN_TRANSPORT") : "auto");
  transport = lower(transport);
#ifdef BANYAN_HAVE_OFI
  if (transport != "auto" && transport != "tcp" && transport != "shm" && transport != "ofi") {
    fail(ErrorCode::NotSupported,
         "transport '{}' (from {}) is not available in this build; available: auto, tcp, shm, ofi", transport,
         options.transport ? "Options::transport" : "BANYAN_TRANSPORT");
  }
#else
  if (transport == "ofi") {
    fail(ErrorCode::NotSupported,
         "transport 'ofi' (from {}): this banyan was built without libfabric; install libfabric-dev "
         "(tools/install-deps.sh) and rebuild",
         options.transport ? "Options::transport" : "BANYAN_TRANSPORT");
  }
  if (transport != "auto" && transport != "tcp" && transport != "shm") {
    fail(ErrorCode::NotSupported, "transport '{}' (from {}) is not available in this build; available: auto, tcp, shm",
         transport, options.transport ? "Options::transport" : "BANYAN_TRANSPORT");
  }
#endif
  config.transport = transport;

  if (options.ofiProvider) {
    config.ofiProvider = *options.ofiProvider;
  } else if (const char* v = env("BANYAN_OFI_PROVIDER")) {
    config.ofiProvider = v;
  }
  if (const char* v = env("BANYAN_OFI_MODULE")) config.ofiModule = v;
  if (options.ofiRmaBytes) {
    config.ofiRmaBytes = *options.ofiRmaBytes;
    config.ofiRmaBytesSet = true;
  } else if (const char* v = env("BANYAN_OFI_RMA_BYTES")) {
    config.ofiRmaBytes = parseBytes(v, "BANYAN_OFI_RMA_BYTES");
    config.ofiRmaBytesSet = true;
  }
  if (const char* v = env("BANYAN_OFI_MR_CACHE")) {
    auto [value, suffix] = numberAndSuffix(v, "BANYAN_OFI_MR_CACHE");
    if (!suffix.empty() || value > (1u << 20)) {
      fail(ErrorCode::InvalidUsage, "BANYAN_OFI_MR_CACHE: '{}' must be an integer from 0 to {}", v, 1u << 20);
    }
    config.ofiRegistrationCache = static_cast<std::size_t>(value);
  }
  if (const char* v = env("BANYAN_OFI_RMA_NOTIFY")) {
    const std::string value = lower(v);
    if (value != "data" && value != "message") {
      fail(ErrorCode::InvalidUsage, "BANYAN_OFI_RMA_NOTIFY: '{}' must be data or message", v);
    }
    config.ofiRmaByMessage = value == "message";
  }

  if (options.crossMemoryBytes) {
    config.crossMemoryBytes = *options.crossMemoryBytes;
  } else if (const char* v = env("BANYAN_SHM_CMA_BYTES")) {
    config.crossMemoryBytes = parseBytes(v, "BANYAN_SHM_CMA_BYTES");
  }

  if (options.shmCollectives) {
    config.shmCollectives = *options.shmCollectives;
  } else if (const char* v = env("BANYAN_SHM_COLLECTIVES")) {
    config.shmCollectives = parseZeroOne(v, "BANYAN_SHM_COLLECTIVES");
  }

  if (options.shareConnections) {
    config.shareConnections = *options.shareConnections;
  } else if (const char* v = env("BANYAN_SHARE_CONNECTIONS")) {
    config.shareConnections = parseZeroOne(v, "BANYAN_SHARE_CONNECTIONS");
  }

  if (options.checkCalls) {
    config.checkCalls = *options.checkCalls;
  } else if (const char* v = env("BANYAN_CHECK")) {
    config.checkCalls = parseZeroOne(v, "BANYAN_CHECK");
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

  if (options.p2pEagerBytes) {
    config.p2pEagerBytes = *options.p2pEagerBytes;
  } else if (const char* v = env("BANYAN_P2P_EAGER_BYTES")) {
    config.p2pEagerBytes = parseBytes(v, "BANYAN_P2P_EAGER_BYTES");
  }
  if (config.p2pEagerBytes > (std::size_t{1} << 30)) {
    fail(ErrorCode::InvalidUsage, "point-to-point eager limit {} bytes is more than 1 GiB (BANYAN_P2P_EAGER_BYTES)",
         config.p2pEagerBytes);
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

  if (options.tcpCongestion) {
    config.tcpCongestion = *options.tcpCongestion;
  } else if (const char* v = env("BANYAN_TCP_CONGESTION")) {
    config.tcpCongestion = v;
  }
  if (config.tcpCongestion.empty() || config.tcpCongestion.size() > 15 ||
      !std::all_of(config.tcpCongestion.begin(), config.tcpCongestion.end(),
                   [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; })) {
    fail(ErrorCode::InvalidUsage,
         "BANYAN_TCP_CONGESTION '{}': expected auto, system or a congestion control's name (at most 15 letters, "
         "digits, '_' or '-')",
         config.tcpCongestion);
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

  if (options.heartbeat) {
    if (options.heartbeat->count() < 0) {
      fail(ErrorCode::InvalidUsage, "Options::heartbeat must be 0 (off) or positive, got {} ms",
           options.heartbeat->count());
    }
    config.heartbeat = *options.heartbeat;
  } else if (const char* v = env("BANYAN_HEARTBEAT_MS")) {
    auto [value, suffix] = numberAndSuffix(v, "BANYAN_HEARTBEAT_MS");
    if (!suffix.empty() || value > 3'600'000) {
      fail(ErrorCode::InvalidUsage, "BANYAN_HEARTBEAT_MS: '{}' must be 0 (off) or up to 3600000 milliseconds", v);
    }
    config.heartbeat = std::chrono::milliseconds(value);
  }
  if (options.heartbeatMisses) {
    if (*options.heartbeatMisses < 1 || *options.heartbeatMisses > 1000) {
      fail(ErrorCode::InvalidUsage, "Options::heartbeatMisses must be 1..1000, got {}", *options.heartbeatMisses);
    }
    config.heartbeatMisses = *options.heartbeatMisses;
  } else if (const char* v = env("BANYAN_HEARTBEAT_MISSES")) {
    config.heartbeatMisses = static_cast<int>(parsePositiveInt(v, "BANYAN_HEARTBEAT_MISSES", 1000));
  }

  if (const char* v = env("BANYAN_FLIGHT_RECORDER")) config.flightRecorderPath = v;
  if (const char* v = env("BANYAN_TRACE")) config.tracePath = v;
  if (const char* v = env("BANYAN_FLIGHT_RECORDER_SIZE")) {
    config.flightRecorderSize = static_cast<std::size_t>(parsePositiveInt(v, "BANYAN_FLIGHT_RECORDER_SIZE", 1'000'000));
  }

  if (const char* v = env("BANYAN_DEBUG_SUBSYS")) config.logSubsystems = parseSubsystems(v, "BANYAN_DEBUG_SUBSYS");

  // As every field: code that sets the algorithm or the topology file means it for this
  // communicator; the environment fills in what the code leaves unset.
  if (options.algo) {
    config.algo = *options.algo;
    config.algoSource = "Options::algo";
  } else if (const char* v = env("BANYAN_ALGO")) {
    config.algo = v;
  }
  if (options.topoFile) {
    config.topoFile = *options.topoFile;
  } else if (const char* v = env("BANYAN_TOPO_FILE")) {
    config.topoFile = v;
  }
  if (const char* v = env("BANYAN_TOPO_DUMP_FILE")) config.topoDumpFile = v;
  if (options.tuneFile) {
    config.tuneFile = *options.tuneFile;
  } else if (const char* v = env("BANYAN_TUNE_FILE")) {
    config.tuneFile = v;
  }

  if (options.deterministic) {
    config.deterministic = *options.deterministic;
  } else if (const char* v = env("BANYAN_DETERMINISTIC")) {
    config.deterministic = parseZeroOne(v, "BANYAN_DETERMINISTIC");
  }

  if (options.debug) {
    config.logLevel = parseLogLevel(*options.debug, "Options::debug");
  } else if (const char* v = env("BANYAN_DEBUG")) {
    config.logLevel = parseLogLevel(v, "BANYAN_DEBUG");
  }
  return config;
}

}  // namespace banyan::config
