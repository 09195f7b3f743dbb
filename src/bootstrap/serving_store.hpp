#pragma once
// A TcpStore client that also owns the server it talks to, for the rank that serves the job's
// store (torchrun rank 0, MPI rank 0): the server lives exactly as long as the store handed to
// the communicator. It is a TcpStore, so localAddress() stays reachable through the base class.

#include <banyan/tcp_store.hpp>

#include <memory>
#include <string>
#include <utility>

namespace banyan::bootstrap {

namespace detail {
// Base-from-member: the server must exist before, and outlive, the client base.
struct ServerHolder {
  std::unique_ptr<TcpStoreServer> ownedServer;
};
}  // namespace detail

class ServingStore : private detail::ServerHolder, public TcpStore {
 public:
  // Connects to `server` at connectHost:server->port().
  ServingStore(std::unique_ptr<TcpStoreServer> server, const std::string& connectHost)
      : detail::ServerHolder{std::move(server)}, TcpStore(connectHost, ownedServer->port()) {}

  const TcpStoreServer& server() const { return *ownedServer; }
};

}  // namespace banyan::bootstrap
