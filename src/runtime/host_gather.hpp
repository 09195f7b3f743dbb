#pragma once
// Every rank's published host entry, gathered through the store in O(1) requests per rank
// (issue 19). With one store: each rank sets its own key, rank 0 reads them all and publishes
// them as one value, which the others read. With several store roots (bootstrap/store_roots.hpp)
// in two levels: the leader of each root (the first rank of its block) reads its block's keys
// from its root and publishes their concatenation on root 0; rank 0 reads those k values and
// publishes the whole list on every root; each rank reads it from its own root. Rank 0 then
// makes n/k + 2k requests instead of n, a leader n/k, the others a constant.

#include <banyan/store.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace banyan::runtime {

// Entries by rank; `mine` is this rank's. Keys under `prefix`. Throws Timeout naming the rank
// (or the block) that did not publish, Remote for a malformed value.
std::vector<std::string> gatherPublished(Store& store, const std::string& prefix, int rank, int size,
                                         const std::string& mine, std::chrono::milliseconds timeout);

}  // namespace banyan::runtime
