#pragma once
// Memory registration with a cache: a buffer is registered the first time libfabric needs it
// and the registration is kept for the calls that follow (training loops pass the same
// tensors every step), up to a number of entries, least recently used first out.
//
// Every mr_mode bit the provider returns is honoured (fi_mr(3)):
//   FI_MR_LOCAL      local buffers of sends and receives need a descriptor: callers ask
//                    localDescriptor() for every data buffer (nullptr when not required).
//   FI_MR_VIRT_ADDR  the RMA target address is the virtual address; without it, the offset
//                    into the registered region.
//   FI_MR_ALLOCATED  only allocated memory may be registered: banyan registers only buffers
//                    the user or banyan allocated, so nothing changes.
//   FI_MR_PROV_KEY   the provider picks the key (fi_mr_key); without it banyan requests a key
//                    unique in the domain.
//   FI_MR_ENDPOINT   a region is bound to the endpoint (fi_mr_bind) and enabled before use.
//   FI_MR_RAW, FI_MR_MMU_NOTIFY, FI_MR_RMA_EVENT are not asked for (provider.cpp), so never set.
//
// A cached registration outlives the user's call. A buffer freed and its address reused for
// new memory would keep the old registration: the software providers here do not pin pages,
// and real NIC providers run their own memory monitor under fi_mr_reg (FI_MR_CACHE_MONITOR),
// but the cache can be switched off (capacity 0) where that is in doubt.

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <string>

namespace banyan::transport::ofi {

struct Region {
  void* desc = nullptr;       // local descriptor (fi_mr_desc)
  std::uint64_t key = 0;      // remote key
  std::uint64_t address = 0;  // what a peer writes to for the start of the buffer asked for
};

class MemoryRegistry {
 public:
  // `keyBytes`: the provider's mr_key_size; where banyan chooses keys (no FI_MR_PROV_KEY) they are
  // random bits of that width, so no endpoint outside the job can guess one (membership.hpp).
  MemoryRegistry(fid_domain* domain, fid_ep* endpoint, int mrMode, std::size_t capacity, std::size_t keyBytes = 8);
  ~MemoryRegistry();
  MemoryRegistry(const MemoryRegistry&) = delete;
  MemoryRegistry& operator=(const MemoryRegistry&) = delete;

  // The registration covering [data, data + bytes), made if needed. Throws banyan::Error.
  // Pinned: the registration is not evicted until unpin() with the same arguments.
  Region pin(const void* data, std::size_t bytes);
  void unpin(const void* data, std::size_t bytes);

  // The descriptor a local buffer needs, nullptr where FI_MR_LOCAL is off (no registration).
  // Pins like pin(); release with unpinLocal().
  void* localDescriptor(const void* data, std::size_t bytes);
  void unpinLocal(const void* data, std::size_t bytes);

  bool localRequired() const { return (mrMode_ & FI_MR_LOCAL) != 0; }
  std::size_t size() const { return entries_.size(); }

  // Closes every registration (pinned ones too: after the endpoint is closed nothing uses them).
  void clear();

 private:
  struct Entry;
  using Entries = std::multimap<std::uintptr_t, Entry>;  // by start address; regions may overlap
  struct Entry {
    std::uintptr_t start = 0;
    std::size_t bytes = 0;
    fid_mr* mr = nullptr;
    int pins = 0;
    std::list<Entries::iterator>::iterator lru;
  };
  Entries::iterator find(const void* data, std::size_t bytes);
  Entries::iterator lookup(std::uintptr_t start, std::size_t bytes);
  void close(Entries::iterator entry);
  void evict();

  fid_domain* domain_;
  fid_ep* endpoint_;
  int mrMode_;
  std::size_t capacity_;
  std::size_t keyBytes_;
  Entries entries_;
  std::list<Entries::iterator> lru_;  // front: most recently used
};

// Registrations alive in this process, over all registries: what the cleanup tests check.
std::size_t liveRegistrations();

}  // namespace banyan::transport::ofi
