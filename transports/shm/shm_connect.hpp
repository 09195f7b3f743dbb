#pragma once
// How the ranks of one host hand each other their segments, so that nothing stays in
// /dev/shm once they have: each rank has created its own segment; a store barrier says all
// exist; each maps every peer's; a second barrier says all are mapped; each unlinks its own
// name. Used by the shm transport (its rings) and the shm collectives (their arenas).

#include "transports/shm/segment.hpp"

#include <banyan/store.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace banyan::transport::shm {

struct SegmentExchange {
  std::string keyPrefix;   // store keys: <keyPrefix>created/<rank>, mapped/<rank>
  std::vector<int> ranks;  // every rank taking part, including `me`
  int me = 0;
  std::function<std::string(int rank)> nameOf;  // segment name of a rank
  std::size_t bytes = 0;                        // every segment's size
  std::chrono::milliseconds timeout{300000};
  Residency residency = Residency::Eager;  // how the peers' segments are mapped
};

// Runs the exchange for `mine` (already created and filled in). `onMapped(index, segment)` runs
// for each peer (index into `ranks`) between the barriers, so what it writes into our own
// segment is visible to every peer once this returns. Returns the peers' segments, indexed like
// `ranks` (our own slot left empty); `mine` has been unlinked.
std::vector<Segment> exchangeSegments(Store& store, Segment& mine, const SegmentExchange& exchange,
                                      const std::function<void(std::size_t index, const Segment& peer)>& onMapped);

}  // namespace banyan::transport::shm
