#include "bootstrap/pmix_environment.hpp"

#include <banyan/tcp_store.hpp>

#include "bootstrap/forwarding_store.hpp"
#include "bootstrap/host_address.hpp"
#include "bootstrap/pmix_session.hpp"
#include "bootstrap/serving_store.hpp"
#include "common/host_port.hpp"
#include "common/status.hpp"
#include "config/config.hpp"
#include "security/key_source.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <memory>

namespace banyan::bootstrap {

namespace {

// The store handed to the communicator keeps the PMIx session open: PMIx_Finalize runs when the
// last communicator (and split or shrunk child) that shares this store is gone. The session is
// held by the first base, so it is destroyed after the store's sockets (bases go in reverse).
struct SessionHold {
  std::shared_ptr<PmixSession> session;
};
class SessionStore : private SessionHold, public ForwardingStore {
 public:
  SessionStore(std::shared_ptr<PmixSession> session, std::shared_ptr<Store> inner)
      : SessionHold{std::move(session)}, ForwardingStore(std::move(inner)) {}
};

constexpr const char* kStoreKey = "banyan.store";
constexpr const char* kJobKeyKey = "banyan.jobkey";
constexpr const char* kFailureMark = "!";  // rank 0 could not start the store: the rest is why

// Rank 0: the job key (as banyan-mpi draws it: docs/security.md) and the store server. A failure
// is published too, so the other ranks report rank 0's reason instead of a missing key.
std::unique_ptr<TcpStoreServer> serveStore(PmixSession& pmix, bool oneHost, std::string& advertised) {
  const auto auth = config::resolveAuth();
  std::string keyText;
  if (auth.enabled && !security::configuredKey(auth)) {
    const auto key = security::randomKey();
    security::adoptProcessKey(key);
    keyText = security::toHex(key);
  }
  std::unique_ptr<TcpStoreServer> server;
  std::string published;
  try {
    // One host: stay on loopback, nothing outside can reach the store. Several: listen on every
    // interface and advertise the one the host name resolves to.
    server = std::make_unique<TcpStoreServer>(oneHost ? "127.0.0.1" : "0.0.0.0", 0);
    advertised = oneHost ? "127.0.0.1" : advertisedAddress();
    published = hostPortText(advertised, server->port());
  } catch (const Error& e) {
    published = kFailureMark + e.detail();
  }
  pmix.put(kStoreKey, published);
  pmix.put(kJobKeyKey, keyText);
  pmix.commit();
  return server;
}

std::shared_ptr<Store> joinStore(PmixSession& pmix, JobEnvironment& job, bool oneHost) {
  std::unique_ptr<TcpStoreServer> server;
  std::string advertised;
  if (job.rank == 0) server = serveStore(pmix, oneHost, advertised);
  pmix.fence();
  const std::string address = pmix.getString(0, kStoreKey);
  if (address.rfind(kFailureMark, 0) == 0) {
    fail(ErrorCode::Remote, "PMIx bootstrap: rank 0 could not start the store: {}", address.substr(1));
  }
  job.detail += ", store at " + address + " (served by rank 0)";
  const std::string keyText = pmix.getString(0, kJobKeyKey);
  const auto auth = config::resolveAuth();
  if (job.rank != 0 && !keyText.empty() && auth.enabled && !security::configuredKey(auth)) {
    security::JobKey key;
    if (!security::fromHex(keyText, "the job key rank 0 published through PMIx", key).isOk()) {
      fail(ErrorCode::Internal, "PMIx bootstrap: rank 0 published a malformed job key");
    }
    security::adoptProcessKey(key);
  }
  if (server) return std::make_shared<ServingStore>(std::move(server), advertised);
  auto [host, port] = parseHostPort(address, "the store address rank 0 published through PMIx");
  auto client = std::make_shared<TcpStore>(host, port);
  client->setServedBy("rank 0");  // the store dies with rank 0's process
  return client;
}

}  // namespace

bool pmixPresent() {
  const char* rank = std::getenv("PMIX_RANK");
  const char* space = std::getenv("PMIX_NAMESPACE");
  return rank != nullptr && *rank != '\0' && space != nullptr && *space != '\0';
}

bool pmixSupported() {
#ifdef BANYAN_HAVE_PMIX
  return true;
#else
  return false;
#endif
}

std::optional<JobEnvironment> jobFromPmix() {
  if (!pmixPresent()) return std::nullopt;
  const auto timeout = config::resolve(Options{}).timeout;
  auto session = PmixSession::open(timeout);
  JobEnvironment job;
  job.rank = session->rank();
  job.size = static_cast<int>(session->jobSize());
  job.localRank = static_cast<int>(session->localRank());
  job.localSize = static_cast<int>(session->localSize());
  if (job.rank < 0 || job.rank >= job.size) {
    fail(ErrorCode::InvalidUsage, "PMIx gives rank {} in a job of {} (namespace {})", job.rank, job.size,
         session->nameSpace());
  }
  job.source = "PMIx";
  job.detail = fmt::format("namespace {}, local rank {} of {}", session->nameSpace(), job.localRank, job.localSize);
  auto store = joinStore(*session, job, job.localSize == job.size);  // adds the store to job.detail
  job.store = std::make_shared<SessionStore>(std::move(session), std::move(store));
  return job;
}

}  // namespace banyan::bootstrap
