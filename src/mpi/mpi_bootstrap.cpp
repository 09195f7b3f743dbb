// banyan::mpi::createCommunicator: MPI only carries the rendezvous. Rank 0 starts a
// TcpStoreServer, broadcasts "host:port", and every rank joins through that store.

// Only the C API is used; Open MPI's deprecated C++ bindings warn under -Wextra.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1

#include <banyan/mpi.hpp>
#include <banyan/tcp_store.hpp>

#include "bootstrap/environment.hpp"
#include "bootstrap/host_address.hpp"
#include "bootstrap/serving_store.hpp"
#include "common/status.hpp"
#include "config/config.hpp"
#include "security/key_source.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace banyan::mpi {

namespace {

constexpr int kHostNameBytes = 256;
constexpr int kMessageBytes = 1024;
// Rank 0 sends this first byte instead of an address when it could not start the store, so
// the other ranks fail with its reason instead of waiting for a server that is not there.
constexpr char kFailureMark = '!';

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  fail(ErrorCode::System, "banyan::mpi::createCommunicator: {} failed: {}", call, text);
}

// True when every rank of `comm` runs on the host this rank runs on.
bool allOnOneHost(MPI_Comm comm, int size) {
  std::array<char, kHostNameBytes> mine{};
  const std::string name = bootstrap::localHostName();
  std::copy_n(name.begin(), std::min<std::size_t>(name.size(), mine.size() - 1), mine.begin());
  std::vector<char> all(static_cast<std::size_t>(size) * kHostNameBytes);
  check(MPI_Allgather(mine.data(), kHostNameBytes, MPI_CHAR, all.data(), kHostNameBytes, MPI_CHAR, comm),
        "MPI_Allgather(host names)");
  for (int r = 0; r < size; ++r) {
    if (std::memcmp(all.data() + static_cast<std::size_t>(r) * kHostNameBytes, mine.data(), kHostNameBytes) != 0) {
      return false;
    }
  }
  return true;
}

// Without BANYAN_AUTH_KEY (or a key adopted by an earlier call), rank 0 draws the job key and
// MPI carries it to the others, who adopt it for this process: the store server and clients and
// the communicator's connections all use it (docs/security.md). Every rank takes part in the
// broadcast whatever its own settings, so ranks that disagree fail to authenticate instead of
// deadlocking in MPI.
void shareJobKey(MPI_Comm comm, int rank) {
  std::array<unsigned char, 1 + security::kKeyBytes> message{};
  const auto auth = config::resolveAuth();
  if (rank == 0 && auth.enabled && !security::configuredKey(auth)) {
    const auto key = security::randomKey();
    message[0] = 1;
    std::copy(key.bytes.begin(), key.bytes.end(), message.begin() + 1);
    security::adoptProcessKey(key);
  }
  check(MPI_Bcast(message.data(), static_cast<int>(message.size()), MPI_UNSIGNED_CHAR, 0, comm), "MPI_Bcast(job key)");
  if (rank != 0 && message[0] == 1 && auth.enabled && !security::configuredKey(auth)) {
    security::JobKey key;
    std::copy(message.begin() + 1, message.end(), key.bytes.begin());
    security::adoptProcessKey(key);
  }
}

}  // namespace

Communicator createCommunicator(MPI_Comm comm, const Options& options) {
  int rank = 0;
  int size = 0;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  // Every rank computes the same answer, but only rank 0's is used.
  const bool oneHost = allOnOneHost(comm, size);
  shareJobKey(comm, rank);

  std::array<char, kMessageBytes> message{};
  std::unique_ptr<TcpStoreServer> server;
  std::string advertised;
  if (rank == 0) {
    std::string text;
    try {
      // One host: stay on loopback, nothing outside can reach the store. Several: listen on
      // every interface and advertise the one the host name resolves to.
      server = std::make_unique<TcpStoreServer>(oneHost ? "127.0.0.1" : "0.0.0.0", 0);
      advertised = oneHost ? "127.0.0.1" : bootstrap::advertisedAddress();
      text = fmt::format("{}:{}", advertised, server->port());
    } catch (const Error& e) {
      text = kFailureMark + e.detail();
    }
    std::copy_n(text.begin(), std::min<std::size_t>(text.size(), message.size() - 1), message.begin());
  }
  check(MPI_Bcast(message.data(), kMessageBytes, MPI_CHAR, 0, comm), "MPI_Bcast(store address)");

  const std::string received(message.data());
  if (!received.empty() && received.front() == kFailureMark) {
    fail(ErrorCode::System, "banyan::mpi::createCommunicator: rank 0 could not start the store: {}",
         received.substr(1));
  }
  const auto [host, port] = bootstrap::parseHostPort(received, "store address from MPI rank 0");
  std::shared_ptr<Store> store;
  if (rank == 0) {
    store = std::make_shared<bootstrap::ServingStore>(std::move(server), host);
  } else {
    auto client = std::make_shared<TcpStore>(host, port);
    client->setServedBy("rank 0");  // the store dies with rank 0's process
    store = std::move(client);
  }
  return Communicator::create(std::move(store), rank, size, options);
}

}  // namespace banyan::mpi
