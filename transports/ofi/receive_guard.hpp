#pragma once
// Room to spare after every eager receive, for a provider that must never see a message longer
// than the receive it matches.
//
// libfabric 1.17's shm provider copies a message longer than its inject size (4 KiB) by
// cross-memory attach, in a loop that ends when the whole message is copied: when the receive
// is shorter, process_vm_readv gets an exhausted local iovec, returns 0, and the loop never
// ends (strace of a stuck rank: `process_vm_readv(peer, [{iov_len=0}], 1, [{..., 4096}], 1, 0)
// = 0`, thousands a second, inside fi_trecv or fi_cq_read). Posting each receive as two
// iovecs, the user's buffer then this guard, lets the copy finish; the completion then carries
// the message's whole length, and the transport's length check reports the mismatch.
//
// The guard is address space, not memory: MAP_NORESERVE, touched only when a message was
// longer than its receive (the transport fails then anyway). Shared by every receive: what
// lands in it is never read. A message longer than its receive by more than the guard would
// still loop; 64 GiB (1 GiB where the system refuses that much address space) is beyond any
// message banyan's collectives send.

#include <sys/mman.h>

#include <cstddef>

#include "common/status.hpp"

namespace banyan::transport::ofi {

class ReceiveGuard {
 public:
  ReceiveGuard() {
    for (std::size_t bytes : {std::size_t{1} << 36, std::size_t{1} << 30}) {
      void* at = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (at != MAP_FAILED) {
        data_ = at;
        size_ = bytes;
        return;
      }
    }
    fail(ErrorCode::System, "ofi: cannot reserve address space for the receive guard (mmap of 1 GiB failed)");
  }
  ~ReceiveGuard() { ::munmap(data_, size_); }
  ReceiveGuard(const ReceiveGuard&) = delete;
  ReceiveGuard& operator=(const ReceiveGuard&) = delete;

  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace banyan::transport::ofi
