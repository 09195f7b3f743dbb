#pragma once
// A Store served over TCP by one process (rank 0, or the local launcher) and reached by every
// rank through a TcpStore client. The wire protocol is in src/bootstrap/store_protocol.hpp.

#include <banyan/store.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace banyan {

// Serves the store from a background thread until destroyed.
class TcpStoreServer {
 public:
  // Listens on host:port (port 0 picks a free one; see port()).
  TcpStoreServer(const std::string& host, std::uint16_t port);
  // Adopts a socket that is already bound and listening (the launcher binds before it forks,
  // so children know the port without a race).
  explicit TcpStoreServer(int listeningFd);
  ~TcpStoreServer();
  TcpStoreServer(const TcpStoreServer&) = delete;
  TcpStoreServer& operator=(const TcpStoreServer&) = delete;

  std::uint16_t port() const;

  // Waits until no client is connected, or `timeout` passes; returns how many still are. A
  // TcpStore keeps its connection until it is destroyed, so for the rank that serves its job's
  // store this is "every other rank has let go of the store" (bootstrap::ServingStore).
  std::size_t waitForClientsToLeave(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Client. Connects lazily on the first call, retrying until the call's deadline (the server
// may start after its clients). Thread-safe: calls are serialised.
class TcpStore : public Store {
 public:
  TcpStore(std::string host, std::uint16_t port);
  ~TcpStore() override;

  void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) override;
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override;
  std::int64_t add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  bool check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;

  // The local address of the connection to the server ("" before the first call): the
  // interface this host uses to reach the job, which the TCP transport listens on by default.
  std::string localAddress() const override;

  // Names the job's process that serves this store when it is one of the ranks ("rank 0", as
  // under torchrun's variables, PMIx and Slurm): a connection that server closes, or a listener
  // that refuses after it had answered, then reads as that rank's probable exit (Remote)
  // instead of a bare socket error. Set before the first call; empty (the default) for a store
  // that outlives the ranks.
  void setServedBy(std::string rankName);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A store whose keys are all prefixed, so several communicators (or jobs) share one server.
class PrefixStore : public Store {
 public:
  PrefixStore(std::string prefix, std::shared_ptr<Store> inner);
  void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) override;
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override;
  std::int64_t add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  bool check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  std::string localAddress() const override { return inner_->localAddress(); }
  const std::shared_ptr<Store>& inner() const { return inner_; }

 private:
  std::string prefix_;
  std::shared_ptr<Store> inner_;
};

}  // namespace banyan
