#include "bootstrap/environment.hpp"

#include <banyan/tcp_store.hpp>

#include "bootstrap/pmix_environment.hpp"
#include "bootstrap/serving_store.hpp"
#include "bootstrap/slurm_environment.hpp"
#include "bootstrap/store_roots_environment.hpp"
#include "common/host_port.hpp"
#include "common/status.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>

namespace banyan::bootstrap {

namespace {

const char* getEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

// Of a set of variables that belong together, the values; empty when none is set. Throws
// naming the first missing one when only some are.
std::optional<std::vector<std::string>> readSet(const std::vector<const char*>& names, const char* who) {
  std::vector<std::string> values;
  const char* present = nullptr;
  const char* missing = nullptr;
  for (const char* name : names) {
    const char* value = getEnv(name);
    values.emplace_back(value ? value : "");
    if (value && !present) present = name;
    if (!value && !missing) missing = name;
  }
  if (!present) return std::nullopt;
  if (missing) {
    std::string all;
    for (const char* name : names) all += (all.empty() ? "" : ", ") + std::string(name);
    fail(ErrorCode::InvalidUsage, "{} is set but {} is not ({} sets {})", present, missing, who, all);
  }
  return values;
}

void checkRankAndSize(int rank, int size, const char* rankName, const char* sizeName) {
  if (rank >= size) {
    fail(ErrorCode::InvalidUsage, "{}={} is not below {}={}", rankName, rank, sizeName, size);
  }
}

JobEnvironment fromBanyanVariables(const std::vector<std::string>& values) {
  JobEnvironment job;
  job.source = "BANYAN_*";
  job.size = static_cast<int>(parseInteger("BANYAN_SIZE", values[1], 1, 1 << 30));
  job.rank = static_cast<int>(parseInteger("BANYAN_RANK", values[0], 0, 1 << 30));
  checkRankAndSize(job.rank, job.size, "BANYAN_RANK", "BANYAN_SIZE");
  auto [host, port] = parseHostPort(values[2], "BANYAN_STORE_ADDR");
  job.store = std::make_shared<TcpStore>(host, port);
  return job;
}

JobEnvironment fromTorchrunVariables(const std::vector<std::string>& values) {
  JobEnvironment job;
  job.source = "torchrun";
  job.size = static_cast<int>(parseInteger("WORLD_SIZE", values[1], 1, 1 << 30));
  job.rank = static_cast<int>(parseInteger("RANK", values[0], 0, 1 << 30));
  checkRankAndSize(job.rank, job.size, "RANK", "WORLD_SIZE");
  const std::string& host = values[2];
  const auto port = static_cast<std::uint16_t>(parseInteger("MASTER_PORT", values[3], 1, 65535));
  if (job.rank != 0) {
    auto client = std::make_shared<TcpStore>(host, port);
    client->setServedBy("rank 0");  // the store dies with rank 0's process
    job.store = std::move(client);
    return job;
  }
  // Rank 0 serves. MASTER_ADDR may name this host through an address we cannot bind (a
  // service name, a NAT address): then listen on every interface, as the other ranks still
  // reach us through MASTER_ADDR. An IPv6 MASTER_ADDR gets the IPv6 wildcard, which takes
  // IPv4 clients too where the kernel allows both on one socket (the default).
  const std::string bindHost = isLocalAddress(host) ? host : isIpv6Literal(host) ? "::" : "0.0.0.0";
  std::unique_ptr<TcpStoreServer> server;
  try {
    server = std::make_unique<TcpStoreServer>(bindHost, port);
  } catch (const Error& e) {
    fail(e.code(),
         "rank 0 cannot serve the store on MASTER_ADDR:MASTER_PORT={} (is the port taken, "
         "e.g. by another job or by torchrun's own agent store?): {}",
         hostPortText(host, port), e.detail());
  }
  // Connect through MASTER_ADDR, not loopback: localAddress() is then the interface the
  // other ranks reach this host on.
  job.store = std::make_shared<ServingStore>(std::move(server), host);
  return job;
}

}  // namespace

long long parseInteger(const char* name, const std::string& text, long long min, long long max) {
  long long value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [ptr, err] = std::from_chars(begin, end, value);
  if (err != std::errc() || ptr != end || text.empty()) {
    fail(ErrorCode::InvalidUsage, "{}='{}' is not an integer", name, text);
  }
  if (value < min || value > max) {
    fail(ErrorCode::InvalidUsage, "{}={} is out of range [{}, {}]", name, value, min, max);
  }
  return value;
}

bool isLocalAddress(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* addresses = nullptr;
  if (::getaddrinfo(host.c_str(), "0", &hints, &addresses) != 0) return false;
  bool local = false;
  for (addrinfo* a = addresses; a != nullptr && !local; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    local = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0;
    ::close(fd);
  }
  ::freeaddrinfo(addresses);
  return local;
}

std::pair<std::string, std::uint16_t> parseHostPort(const std::string& text, const char* what) {
  HostPort parsed = banyan::parseHostPort(text, what);
  return {std::move(parsed.host), parsed.port};
}

std::optional<JobEnvironment> jobFromEnvironment() {
  // Precedence (docs/launchers.md): banyan's own variables, then a PMIx server, then torchrun's
  // variables (torchrun inside an srun step or an sbatch script), then a plain srun step. The
  // last two look at RANK/WORLD_SIZE and SLURM_PROCID first so that MASTER_ADDR or
  // BANYAN_STORE_ADDR alone, which the Slurm bootstrap reads, are not taken for half a set.
  std::optional<JobEnvironment> job;
  const bool banyanSet = getEnv("BANYAN_RANK") || getEnv("BANYAN_SIZE");
  const bool torchrunSet = getEnv("RANK") || getEnv("WORLD_SIZE");
  if (banyanSet || (!pmixPresent() && !torchrunSet && !slurmStepPresent())) {
    if (auto values = readSet({"BANYAN_RANK", "BANYAN_SIZE", "BANYAN_STORE_ADDR"}, "banyan's launcher")) {
      job = fromBanyanVariables(*values);
    }
  }
  // A build without PMIx under srun --mpi=pmix (or torchrun under mpirun) still has SLURM_* (or
  // torchrun's variables) to go by; with nothing else, jobFromPmix() says PMIx is missing.
  const bool otherLauncher = torchrunSet || slurmStepPresent();
  if (!job && !banyanSet && (pmixSupported() || !otherLauncher)) job = jobFromPmix();
  if (!job && (torchrunSet || !slurmStepPresent())) {
    if (auto values = readSet({"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}, "torchrun")) {
      job = fromTorchrunVariables(*values);
    }
  }
  if (!job) job = jobFromSlurm();
  // More store roots for the largest jobs (docs/launchers.md): the job's store is root 0.
  if (job) job->store = withStoreRoots(std::move(job->store), job->rank, job->size);
  // Several jobs may share one store server; a prefix keeps their keys apart.
  if (job) {
    if (const char* prefix = std::getenv("BANYAN_STORE_PREFIX"); prefix != nullptr && *prefix != '\0') {
      job->store = std::make_shared<PrefixStore>(prefix, job->store);
    }
  }
  return job;
}

}  // namespace banyan::bootstrap
