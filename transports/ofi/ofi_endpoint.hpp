#pragma once
// The libfabric objects one ofi transport talks through: fabric, domain, completion queue,
// address vector and endpoint, opened for the provider chosen (provider.hpp) and closed in the
// reverse order. What the provider needs beyond its info is set here too: the sockets
// provider's buffer for early messages, and the shm provider's regions in /dev/shm that dead
// processes leave behind.

#include <rdma/fabric.h>
#include <sys/types.h>

#include <string>

namespace banyan::transport::ofi {

// "<libfabric's text> (<code>)" for a negative libfabric return value.
std::string fiText(ssize_t ret);

class Endpoint {
 public:
  // Opens every object for `info` (whose rx_attr it may adjust) and enables the endpoint.
  // Throws banyan::Error naming the libfabric call that failed; close() frees what was opened.
  void open(fi_info& info);
  // Closes the endpoint alone, which cancels everything posted on it. Idempotent.
  void closeEndpoint();
  // Closes the endpoint and then every other object. Idempotent.
  void close();

  // fi_getname of the endpoint, to publish through the store.
  std::string address() const;
  // Inserts a peer's published address; sets `where` to its printable form (fi_av_straddr).
  fi_addr_t insert(const std::string& address, int rank, std::string& where);

  const std::string& providerName() const { return providerName_; }
  fid_fabric* fabric() const { return fabric_; }
  fid_domain* domain() const { return domain_; }
  fid_cq* cq() const { return cq_; }
  fid_ep* ep() const { return ep_; }
  // The completion queue's wait descriptor (FI_WAIT_FD), or -1 where the provider has none.
  int waitFd() const { return waitFd_; }

 private:
  std::string providerName_;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_av* av_ = nullptr;
  fid_ep* ep_ = nullptr;
  int waitFd_ = -1;
};

// libfabric 1.17's shm provider keeps each endpoint's region in /dev/shm under the name in its
// address (fi_shm://<pid>:<n>:<m>) and removes it only when the endpoint closes: a killed
// rank leaves it behind (a few MB of memory each), and a later process that gets the same pid
// then fails fi_enable with EBUSY. The peers that see it die remove it (`where`: the dead
// peer's printable address); the first one does, the others find it gone.
void removeDeadShmRegion(const std::string& providerName, const std::string& where);

}  // namespace banyan::transport::ofi
