#pragma once
// banyan::Store over the c10d::Store that PyTorch hands a process group. The communicator
// bootstraps through it, so a "banyan" group needs no rendezvous of its own: torch has already
// prefixed the store per group, and every group's keys stay apart.

#include <banyan/store.hpp>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include <string>

namespace banyan::torch_backend {

class C10dStore : public banyan::Store {
 public:
  explicit C10dStore(c10::intrusive_ptr<c10d::Store> store);

  void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) override;
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override;
  std::int64_t add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  // c10d's own check(): answered from the keys present now, with the store's own timeout for
  // the exchange (c10d takes none per call).
  bool check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  // The local address that routes to MASTER_ADDR (torchrun's store host), so the TCP
  // transport listens on the interface the other hosts reach; "" (loopback) without one.
  std::string localAddress() const override { return localAddress_; }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  std::string localAddress_;
};

// The address of the local interface that routes to `host` ("" if it cannot be found).
// Connects a UDP socket, which sends nothing, and reads its local end.
std::string localAddressTowards(const std::string& host);

}  // namespace banyan::torch_backend
