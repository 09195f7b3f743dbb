#include "transports/ofi/memory_registry.hpp"

#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include <atomic>

#include "common/status.hpp"
#include "transports/ofi/membership.hpp"

namespace banyan::transport::ofi {
namespace {

std::atomic<std::size_t> gLive{0};

// Every use banyan makes of a region, so one registration serves sends, receives and writes
// in both directions.
constexpr std::uint64_t kAccess = FI_SEND | FI_RECV | FI_WRITE | FI_REMOTE_WRITE | FI_READ | FI_REMOTE_READ;

}  // namespace

std::size_t liveRegistrations() { return gLive.load(); }

MemoryRegistry::MemoryRegistry(fid_domain* domain, fid_ep* endpoint, int mrMode, std::size_t capacity,
                               std::size_t keyBytes)
    : domain_(domain), endpoint_(endpoint), mrMode_(mrMode), capacity_(capacity), keyBytes_(keyBytes) {}

MemoryRegistry::~MemoryRegistry() { clear(); }

// A registration covering [start, start + bytes), or end(). Entries are few (the capacity), so
// a walk back from the last one starting at or before `start` is cheap.
MemoryRegistry::Entries::iterator MemoryRegistry::lookup(std::uintptr_t start, std::size_t bytes) {
  auto it = entries_.upper_bound(start);
  while (it != entries_.begin()) {
    --it;
    if (start + bytes <= it->second.start + it->second.bytes) return it;
  }
  return entries_.end();
}

MemoryRegistry::Entries::iterator MemoryRegistry::find(const void* data, std::size_t bytes) {
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  if (bytes == 0) bytes = 1;  // a zero-length message still names its buffer
  if (auto hit = lookup(start, bytes); hit != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, hit->second.lru);
    return hit;
  }
  fid_mr* mr = nullptr;
  int ret = -FI_ENOKEY;
  // A random key that happens to be in use already (-FI_ENOKEY) is drawn again.
  for (int attempt = 0; attempt < 4 && ret == -FI_ENOKEY; ++attempt) {
    const std::uint64_t requested = (mrMode_ & FI_MR_PROV_KEY) != 0 ? 0 : randomRegistrationKey(keyBytes_);
    ret = fi_mr_reg(domain_, data, bytes, kAccess, 0, requested, 0, &mr, nullptr);
  }
  if (ret != 0) {
    fail(ErrorCode::System, "ofi: registering {} bytes at {}: {}", bytes, data, fi_strerror(-ret));
  }
  if ((mrMode_ & FI_MR_ENDPOINT) != 0) {
    ret = fi_mr_bind(mr, &endpoint_->fid, 0);
    if (ret == 0) ret = fi_mr_enable(mr);
    if (ret != 0) {
      fi_close(&mr->fid);
      fail(ErrorCode::System, "ofi: binding the registration of {} bytes to the endpoint: {}", bytes,
           fi_strerror(-ret));
    }
  }
  ++gLive;
  auto it = entries_.emplace(start, Entry{start, bytes, mr, 0, {}});
  lru_.push_front(it);
  it->second.lru = lru_.begin();
  return it;
}

Region MemoryRegistry::pin(const void* data, std::size_t bytes) {
  auto it = find(data, bytes);
  ++it->second.pins;
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  Region region;
  region.desc = fi_mr_desc(it->second.mr);
  region.key = fi_mr_key(it->second.mr);
  region.address = (mrMode_ & FI_MR_VIRT_ADDR) != 0 ? start : start - it->second.start;
  evict();  // the cache may have grown past its capacity by this one
  return region;
}

void MemoryRegistry::unpin(const void* data, std::size_t bytes) {
  // The pinned one among those covering the range (the one pin() returned, unless a larger
  // covering one was made later; any pinned cover balances the count the same way).
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  if (bytes == 0) bytes = 1;
  auto it = entries_.upper_bound(start);
  while (it != entries_.begin()) {
    --it;
    if (start + bytes <= it->second.start + it->second.bytes && it->second.pins > 0) {
      --it->second.pins;
      break;
    }
  }
  evict();
}

void* MemoryRegistry::localDescriptor(const void* data, std::size_t bytes) {
  return localRequired() ? pin(data, bytes).desc : nullptr;
}

void MemoryRegistry::unpinLocal(const void* data, std::size_t bytes) {
  if (localRequired()) unpin(data, bytes);
}

void MemoryRegistry::close(Entries::iterator entry) {
  lru_.erase(entry->second.lru);
  fi_close(&entry->second.mr->fid);
  --gLive;
  entries_.erase(entry);
}

// Closes least recently used, unpinned registrations while the cache is over capacity.
void MemoryRegistry::evict() {
  auto it = lru_.end();
  while (entries_.size() > capacity_ && it != lru_.begin()) {
    --it;
    if ((*it)->second.pins > 0) continue;
    const auto victim = *it;
    it = std::next(it);  // stays valid: only the victim's node is erased
    close(victim);
  }
}

void MemoryRegistry::clear() {
  while (!entries_.empty()) close(entries_.begin());
}

}  // namespace banyan::transport::ofi
