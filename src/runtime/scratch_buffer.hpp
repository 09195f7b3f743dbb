#pragma once
// Memory the schedules use as Scratch. It grows to the largest need and is kept: a fresh
// buffer costs a page fault per 4 KiB on first touch (~12 us each on these VMs), so a new
// buffer per call would cost more than the collective itself. Growth touches every page at
// once, outside any timed loop a user would have.

#include <cstddef>
#include <memory>

namespace banyan::runtime {

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ~ScratchBuffer();
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;

  // Ensures at least `bytes` (keeps the contents of nothing: callers use it per operation).
  void reserve(std::size_t bytes);
  std::byte* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }

 private:
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
};

}  // namespace banyan::runtime
