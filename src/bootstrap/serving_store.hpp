#pragma once
// A TcpStore client that also owns the server it talks to, for the rank that serves the job's
// store (torchrun rank 0, MPI rank 0, the lowest survivor of a shrink): the server lives at
// least as long as the store handed to the communicator. It is a TcpStore, so localAddress()
// stays reachable through the base class.
//
// When this process lets go of the store, the other ranks may still need it: a transport looks
// a peer's address up on first contact, which can come after this rank's last operation ended
// (its part of a barrier done while two others have yet to meet). So the server stays up until
// every other client has closed its connection (a TcpStore keeps its connection until it is
// destroyed), for at most BANYAN_STORE_LINGER, and says so when that takes long.

#include <banyan/tcp_store.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace banyan::bootstrap {

namespace detail {
// Base-from-member: the server must exist before, and outlive, the client base; its destructor
// runs after the client's, so the only connections it waits for are the other ranks'.
struct ServerHolder {
  ServerHolder(std::unique_ptr<TcpStoreServer> server, std::chrono::milliseconds linger);
  ~ServerHolder();
  ServerHolder(const ServerHolder&) = delete;
  ServerHolder& operator=(const ServerHolder&) = delete;

  std::unique_ptr<TcpStoreServer> ownedServer;
  std::chrono::milliseconds linger;
};
}  // namespace detail

class ServingStore : private detail::ServerHolder, public TcpStore {
 public:
  // Connects to `server` at connectHost:server->port(). Reads BANYAN_STORE_LINGER (throws
  // InvalidUsage for a bad value).
  ServingStore(std::unique_ptr<TcpStoreServer> server, const std::string& connectHost);

  const TcpStoreServer& server() const { return *ownedServer; }
};

}  // namespace banyan::bootstrap
