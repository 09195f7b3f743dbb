#include "runtime/scratch_buffer.hpp"

#include "common/status.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace banyan::runtime {

ScratchBuffer::~ScratchBuffer() {
  if (data_ != nullptr) munmap(data_, capacity_);
}

void ScratchBuffer::reserve(std::size_t bytes) {
  if (bytes <= capacity_) return;
  // Round up to 2 MiB so huge pages can back it, and so small growths do not repeat.
  constexpr std::size_t kGranule = std::size_t{2} << 20;
  const std::size_t capacity = (bytes + kGranule - 1) / kGranule * kGranule;
  void* memory = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    fail(ErrorCode::System, "cannot map {} bytes of scratch memory: {}", capacity, errnoText(errno));
  }
  madvise(memory, capacity, MADV_HUGEPAGE);  // a hint; fine if the kernel declines
  std::memset(memory, 0, capacity);          // fault every page in now, not during a collective
  if (data_ != nullptr) munmap(data_, capacity_);
  data_ = static_cast<std::byte*>(memory);
  capacity_ = capacity;
}

}  // namespace banyan::runtime
