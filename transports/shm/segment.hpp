#pragma once
// A POSIX shared-memory segment (shm_open + mmap), owned by the rank that created it and
// mapped by the ranks of the same host that talk to it.
//
// Names: "/banyan-<job key>-c<communicator>-r<rank>[-<what>]", so two jobs (whose keys are
// drawn at random) never meet, and the ranks of one job find each other's segments without
// asking the store. Lifetime: the creator unlinks the name as soon as every peer has mapped
// the segment, so nothing is left in /dev/shm once a communicator is up, even if a rank is
// killed later. A segment left behind by a job killed during set-up is removed by
// removeStale(), which checks the creator's pid recorded in the segment's first bytes.

#include "common/status.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace banyan::transport::shm {

// First bytes of every banyan segment, written by the creator.
struct SegmentStamp {
  static constexpr std::uint64_t kMagic = 0x62616e79616e3031ULL;  // "banyan01"
  std::uint64_t magic;
  std::int64_t creatorPid;
  std::uint64_t bytes;  // mapped length
  std::uint64_t reserved;
};

// Whether a segment's pages are allocated when it is mapped, or as parts of it are put to use.
//   Eager:     every page now, so later use never faults (MAP_POPULATE). For what is used whole
//              and at once: the shm collectives' arena.
//   OnFirstUse: only the stamp and what the caller writes; the rest stays a hole in /dev/shm
//              until populate() (or a first touch) allocates it. For the transport's rings: a
//              rank holds a ring to every local peer, but talks to few of them, so allocating
//              them all made a host's shared memory grow with the square of its ranks (4.2 GiB
//              at 64 ranks, measured; docs/shared-memory.md "What grows with what").
enum class Residency { Eager, OnFirstUse };

class Segment {
 public:
  Segment() = default;
  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&& other) noexcept;
  ~Segment();

  // Creates `name` with room for `bytes` (plus the stamp page) and maps it, its pages allocated
  // as `residency` says. A segment already under that name is removed first if its creator is
  // gone (a killed job); if its creator lives, that is an error naming it.
  static Segment create(const std::string& name, std::size_t bytes, Residency residency = Residency::Eager);
  // Maps the segment `name` made by a peer; checks its stamp and that it is `bytes` long.
  static Segment open(const std::string& name, std::size_t bytes, Residency residency = Residency::Eager);

  // Allocates and maps the pages of [from, from + bytes), a range inside a mapped segment
  // (its own or a peer's), without changing their contents: a peer may be writing there. A
  // full /dev/shm is an error (System) naming `what`, where a first touch would be SIGBUS.
  static void populate(std::byte* from, std::size_t bytes, std::string_view what);

  // Removes the name (mappings stay valid). Idempotent; the destructor calls it for the creator.
  void unlink();

  // Payload (after the stamp page).
  std::byte* data() const { return data_; }
  std::size_t size() const { return bytes_; }
  const std::string& name() const { return name_; }
  bool valid() const { return base_ != nullptr; }

 private:
  void release();
  void mapAndClose(int fd, std::size_t bytes, Residency residency);

  std::string name_;
  void* base_ = nullptr;
  std::size_t mapped_ = 0;
  std::byte* data_ = nullptr;
  std::size_t bytes_ = 0;
  bool owner_ = false;
  bool linked_ = false;
};

// Removes banyan segments in /dev/shm whose name starts with `prefix` and whose creator
// process no longer exists. Returns how many it removed.
int removeStale(const std::string& prefix);

// The one place segment names are made (the Names paragraph above). The name every segment of
// one communicator's connections shares, "banyan-<job key>-c<communicator><channel>" (channel:
// "" for the collectives' connections, "p" for point-to-point's):
std::string communicatorSegmentName(std::uint64_t jobKey, std::uint64_t communicatorId, std::string_view channel = "");
// One rank's segment in the communicator named `communicator`: "/<communicator>-r<rank><what>"
// (what: "" for the shm transport's rings and doorbell, "-arena" for the shm collectives').
std::string segmentName(std::string_view communicator, int rank, std::string_view what = "");

}  // namespace banyan::transport::shm
