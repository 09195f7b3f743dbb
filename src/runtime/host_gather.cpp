#include "runtime/host_gather.hpp"

#include "bootstrap/store_roots.hpp"
#include "common/status.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace banyan::runtime {
namespace {

Store::Bytes bytesOf(const std::string& text) { return Store::Bytes(text.begin(), text.end()); }

// "<length>:<entry>": entries hold newlines, and a length never misreads.
std::string framed(const std::string& entry) { return fmt::format("{}:{}", entry.size(), entry); }

// The first rank of each block of ranks that share a store root, and `size` last. One block
// (0, size) with a single store.
std::vector<int> blockStarts(const Store& store, int size) {
  const auto* roots = bootstrap::findRoots(store);
  std::vector<int> starts;
  int last = -1;
  for (int rank = 0; rank < size; ++rank) {
    const int root = roots ? roots->rootOf(rank) : 0;
    if (root != last) starts.push_back(rank);
    last = root;
  }
  starts.push_back(size);
  return starts;
}

std::string readEntry(Store& store, const std::string& prefix, int rank, std::chrono::milliseconds timeout) {
  try {
    const auto bytes = store.get(bootstrap::rankKey(prefix, "host", rank), timeout);
    return std::string(bytes.begin(), bytes.end());
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Timeout) throw;
    // Say whom: the rank every other one waits for here has not started, or died starting.
    fail(ErrorCode::Timeout,
         "rank {} did not join: it published no host identity within {} ms (not started, "
         "or died while starting): {}",
         rank, timeout.count(), e.detail());
  }
}

// What the leader of block `block` (ranks first..last-1) publishes on root 0, read by rank 0.
std::string readBlock(Store& store, const std::string& prefix, int block, int first, int last,
                      std::chrono::milliseconds timeout) {
  try {
    const auto bytes = store.get(fmt::format("{}hostblock/{}", prefix, block), timeout);
    return std::string(bytes.begin(), bytes.end());
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Timeout) throw;
    fail(ErrorCode::Timeout,
         "rank {}, the leader of ranks {}..{} (store root block {}), did not publish their host identities within {} "
         "ms: "
         "one of them did not join (rank {} names it), or it did not start: {}",
         first, first, last - 1, block, timeout.count(), first, e.detail());
  }
}

std::string readAll(Store& store, const std::string& allKey, std::chrono::milliseconds timeout) {
  try {
    const auto bytes = store.get(allKey, timeout);
    return std::string(bytes.begin(), bytes.end());
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Timeout) throw;
    fail(ErrorCode::Timeout,
         "rank 0 did not publish the ranks' host identities within {} ms: a rank did not join (rank 0 names it), "
         "or rank 0 itself did not start: {}",
         timeout.count(), e.detail());
  }
}

std::vector<std::string> unframe(const std::string& all, int size, const std::string& allKey) {
  std::vector<std::string> published(static_cast<std::size_t>(size));
  std::size_t at = 0;
  for (auto& entry : published) {
    const std::size_t colon = all.find(':', at);
    std::size_t length = 0;
    const bool number = colon != std::string::npos &&
                        std::from_chars(all.data() + at, all.data() + colon, length).ptr == all.data() + colon;
    if (!number || colon + 1 + length > all.size()) {
      fail(ErrorCode::Remote, "the store holds a malformed '{}': rank 0 runs another version of banyan?", allKey);
    }
    entry = all.substr(colon + 1, length);
    at = colon + 1 + length;
  }
  return published;
}

}  // namespace

std::vector<std::string> gatherPublished(Store& store, const std::string& prefix, int rank, int size,
                                         const std::string& mine, std::chrono::milliseconds timeout) {
  const std::string allKey = bootstrap::everyRootKey(prefix, "hosts");
  const std::vector<int> starts = blockStarts(store, size);
  const auto block = static_cast<int>(std::upper_bound(starts.begin(), starts.end(), rank) - starts.begin()) - 1;
  const int first = starts[static_cast<std::size_t>(block)];
  const int last = starts[static_cast<std::size_t>(block) + 1];
  if (rank != first) {
    store.set(bootstrap::rankKey(prefix, "host", rank), bytesOf(mine), timeout);
    return unframe(readAll(store, allKey, timeout), size, allKey);
  }
  std::string gathered = framed(mine);
  for (int other = first + 1; other < last; ++other) gathered += framed(readEntry(store, prefix, other, timeout));
  if (rank != 0) {
    store.set(fmt::format("{}hostblock/{}", prefix, block), bytesOf(gathered), timeout);
    return unframe(readAll(store, allKey, timeout), size, allKey);
  }
  const int blocks = static_cast<int>(starts.size()) - 1;
  for (int b = 1; b < blocks; ++b) {
    gathered += readBlock(store, prefix, b, starts[static_cast<std::size_t>(b)],
                          starts[static_cast<std::size_t>(b) + 1], timeout);
  }
  store.set(allKey, bytesOf(gathered), timeout);
  return unframe(gathered, size, allKey);
}

}  // namespace banyan::runtime
