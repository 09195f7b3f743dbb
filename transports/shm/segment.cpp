#include "transports/shm/segment.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace banyan::transport::shm {
namespace {

constexpr std::size_t kStampBytes = 4096;  // the payload starts page-aligned

bool processAlive(std::int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Reads the stamp of the segment `name`; false if it cannot be read or is not banyan's.
bool readStamp(const std::string& name, SegmentStamp& stamp) {
  const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  const bool ok =
      ::pread(fd, &stamp, sizeof stamp, 0) == static_cast<ssize_t>(sizeof stamp) && stamp.magic == SegmentStamp::kMagic;
  ::close(fd);
  return ok;
}

}  // namespace

Segment::Segment(Segment&& other) noexcept { *this = std::move(other); }

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    release();
    name_ = std::move(other.name_);
    base_ = std::exchange(other.base_, nullptr);
    mapped_ = std::exchange(other.mapped_, 0);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    owner_ = std::exchange(other.owner_, false);
    linked_ = std::exchange(other.linked_, false);
  }
  return *this;
}

Segment::~Segment() { release(); }

void Segment::release() {
  if (owner_) unlink();
  if (base_ != nullptr) ::munmap(base_, mapped_);
  base_ = nullptr;
  data_ = nullptr;
}

void Segment::unlink() {
  if (owner_ && linked_) {
    ::shm_unlink(name_.c_str());
    linked_ = false;
  }
}

// Eager: MAP_POPULATE maps every page now (allocating it for the creator): a first touch later
// would cost a fault per 4 KiB page (~12 us on these VMs) in the middle of a collective.
void Segment::mapAndClose(int fd, std::size_t bytes, Residency residency) {
  const int populate = residency == Residency::Eager ? MAP_POPULATE : 0;
  void* base = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_SHARED | populate, fd, 0);
  const int error = errno;
  ::close(fd);
  if (base == MAP_FAILED) fail(ErrorCode::System, "cannot map shared memory segment {}: {}", name_, errnoText(error));
  base_ = base;
  data_ = static_cast<std::byte*>(base) + kStampBytes;
  bytes_ = bytes;
}

Segment Segment::create(const std::string& name, std::size_t bytes, Residency residency) {
  Segment segment;
  segment.name_ = name;
  segment.mapped_ = kStampBytes + ((bytes + 4095) & ~std::size_t{4095});
  int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST) {
    // Same name: either a segment a killed job left (its creator is gone: remove it) or a
    // live process that drew the same job key, which we must not touch.
    SegmentStamp stamp{};
    if (readStamp(name, stamp) && processAlive(stamp.creatorPid)) {
      fail(ErrorCode::System, "shared memory segment {} already belongs to live process {}", name, stamp.creatorPid);
    }
    ::shm_unlink(name.c_str());
    fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  }
  if (fd < 0) fail(ErrorCode::System, "cannot create shared memory segment {}: {}", name, errnoText(errno));
  segment.owner_ = true;
  segment.linked_ = true;
  if (::ftruncate(fd, static_cast<off_t>(segment.mapped_)) != 0) {
    const int error = errno;
    ::close(fd);
    fail(ErrorCode::System, "cannot size shared memory segment {} to {} bytes: {} (is /dev/shm full?)", name,
         segment.mapped_, errnoText(error));
  }
  segment.mapAndClose(fd, bytes, residency);
  void* base = segment.base_;
  // Huge pages where the kernel gives them for shared memory (shmem_enabled=advise);
  // harmless where it does not.
  ::madvise(base, segment.mapped_, MADV_HUGEPAGE);
  auto* stamp = static_cast<SegmentStamp*>(base);
  stamp->creatorPid = ::getpid();
  stamp->bytes = segment.mapped_;
  stamp->magic = SegmentStamp::kMagic;
  return segment;
}

Segment Segment::open(const std::string& name, std::size_t bytes, Residency residency) {
  Segment segment;
  segment.name_ = name;
  segment.mapped_ = kStampBytes + ((bytes + 4095) & ~std::size_t{4095});
  const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) fail(ErrorCode::System, "cannot open shared memory segment {}: {}", name, errnoText(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || static_cast<std::size_t>(info.st_size) != segment.mapped_) {
    ::close(fd);
    fail(ErrorCode::Remote, "shared memory segment {} is {} bytes, expected {} (a stale or foreign segment?)", name,
         static_cast<long long>(info.st_size), segment.mapped_);
  }
  segment.mapAndClose(fd, bytes, residency);
  const auto* stamp = static_cast<const SegmentStamp*>(segment.base_);
  if (stamp->magic != SegmentStamp::kMagic || stamp->bytes != segment.mapped_) {
    fail(ErrorCode::Remote, "shared memory segment {} does not carry banyan's stamp (a foreign segment?)", name);
  }
  return segment;
}

// MADV_POPULATE_WRITE (Linux 5.14) faults the pages in writable, as a write would, without
// writing: a peer may be using the range. Older kernels refuse it (EINVAL); there each page
// takes an atomic add of zero, which allocates it and leaves whatever a peer wrote intact.
void Segment::populate(std::byte* from, std::size_t bytes, std::string_view what) {
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;
#endif
  constexpr std::uintptr_t kPage = 4096;
  const auto first = reinterpret_cast<std::uintptr_t>(from) & ~(kPage - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(from) + bytes + kPage - 1) & ~(kPage - 1);
  if (bytes == 0) return;
  if (::madvise(reinterpret_cast<void*>(first), end - first, MADV_POPULATE_WRITE) == 0) return;
  const int error = errno;
  if (error != EINVAL) {
    fail(ErrorCode::System, "cannot allocate {} bytes of shared memory for {}: {} (is /dev/shm full?)", end - first,
         what, errnoText(error));
  }
  for (std::uintptr_t page = first; page < end; page += kPage) {
    __atomic_fetch_add(reinterpret_cast<std::uint64_t*>(page), 0, __ATOMIC_RELAXED);
  }
}

int removeStale(const std::string& prefix) {
  // Names given to shm_open("/x") appear as /dev/shm/x.
  std::string bare = prefix.starts_with('/') ? prefix.substr(1) : prefix;
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return 0;
  int removed = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string file = entry->d_name;
    if (!file.starts_with(bare)) continue;
    SegmentStamp stamp{};
    const std::string name = "/" + file;
    if (readStamp(name, stamp) && !processAlive(stamp.creatorPid)) {
      if (::shm_unlink(name.c_str()) == 0) ++removed;
    }
  }
  ::closedir(dir);
  return removed;
}

std::string communicatorSegmentName(std::uint64_t jobKey, std::uint64_t communicatorId, std::string_view channel) {
  return fmt::format("banyan-{:016x}-c{}{}", jobKey, communicatorId, channel);
}

std::string segmentName(std::string_view communicator, int rank, std::string_view what) {
  return fmt::format("/{}-r{}{}", communicator, rank, what);
}

}  // namespace banyan::transport::shm
