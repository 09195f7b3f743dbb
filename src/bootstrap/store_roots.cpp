#include "bootstrap/store_roots.hpp"

#include <banyan/tcp_store.hpp>

#include "bootstrap/forwarding_store.hpp"
#include "common/status.hpp"

#include <fmt/format.h>

#include <charconv>
#include <functional>
#include <map>

namespace banyan::bootstrap {

std::string rankKey(const std::string& prefix, const std::string& name, int rank) {
  return fmt::format("{}{}/@{}", prefix, name, rank);
}

std::string everyRootKey(const std::string& prefix, const std::string& name) { return prefix + "*" + name; }

MultiRootStore::MultiRootStore(std::vector<std::shared_ptr<Store>> roots, int rank, int size,
                               std::vector<std::string> names)
    : roots_(std::move(roots)), names_(std::move(names)), rank_(rank), size_(size) {
  names_.resize(roots_.size());
  if (roots_.empty()) fail(ErrorCode::InvalidUsage, "MultiRootStore: no roots");
  for (std::size_t j = 0; j < roots_.size(); ++j) {
    if (!roots_[j]) fail(ErrorCode::InvalidUsage, "MultiRootStore: root {} is null", j);
  }
  if (size_ < 1 || rank_ < 0 || rank_ >= size_) {
    fail(ErrorCode::InvalidUsage, "MultiRootStore: rank {} of {} is not a rank of the job", rank_, size_);
  }
  if (static_cast<int>(roots_.size()) > size_) {
    fail(ErrorCode::InvalidUsage, "{} store roots for {} ranks: at most one root per rank", roots_.size(), size_);
  }
  requests_ = std::make_unique<std::atomic<std::uint64_t>[]>(roots_.size());
}

int MultiRootStore::rootOf(int rank) const {
  if (rank < 0) return 0;
  const long long root = static_cast<long long>(rank) * rootCount() / size_;
  return static_cast<int>(std::min<long long>(root, rootCount() - 1));
}

int MultiRootStore::routeOf(const std::string& key) const {
  const auto slash = key.rfind('/');
  const std::size_t at = slash == std::string::npos ? 0 : slash + 1;
  if (at < key.size() && key[at] == '*') return -1;
  if (at + 1 < key.size() && key[at] == '@') {
    int rank = -1;
    const char* end = key.data() + key.size();
    if (std::from_chars(key.data() + at + 1, end, rank).ptr == end && rank >= 0) return rootOf(rank);
  }
  return 0;
}

int MultiRootStore::readRootOf(const std::string& key) const {
  const int root = routeOf(key);
  return root >= 0 ? root : ownRoot();
}

namespace {

// What is left of `deadline`, at least 1 ms: each root of a multi-root call gets the rest.
std::chrono::milliseconds remaining(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

std::map<int, std::vector<std::string>> byRoot(const std::vector<std::string>& keys,
                                               const std::function<int(const std::string&)>& rootOfKey) {
  std::map<int, std::vector<std::string>> grouped;
  for (const auto& key : keys) grouped[rootOfKey(key)].push_back(key);
  return grouped;
}

}  // namespace

template <typename Call>
auto MultiRootStore::onRoot(int root, Call&& call) {
  const auto j = static_cast<std::size_t>(root);
  requests_[j].fetch_add(1, std::memory_order_relaxed);
  if (names_[j].empty()) return call(*roots_[j]);
  try {
    return call(*roots_[j]);
  } catch (const Error& e) {
    fail(e.code(), "store root {} ({}): {}", root, names_[j], e.detail());
  }
}

void MultiRootStore::set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) {
  const int root = routeOf(key);
  if (root >= 0) return onRoot(root, [&](Store& s) { s.set(key, value, timeout); });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int j = rootCount() - 1; j >= 0; --j) {
    onRoot(j, [&](Store& s) { s.set(key, value, remaining(deadline)); });
  }
}

Store::Bytes MultiRootStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  return onRoot(readRootOf(key), [&](Store& s) { return s.get(key, timeout); });
}

std::int64_t MultiRootStore::add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) {
  const int root = routeOf(key);
  if (root < 0) fail(ErrorCode::InvalidUsage, "add('{}'): a key set on every store root cannot be a counter", key);
  return onRoot(root, [&](Store& s) { return s.add(key, delta, timeout); });
}

void MultiRootStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& [root, some] : byRoot(keys, [this](const std::string& key) { return readRootOf(key); })) {
    // A named reference: clang 14 (the fuzz build's compiler) cannot capture a structured binding.
    const auto& onThisRoot = some;
    onRoot(root, [&](Store& s) { s.wait(onThisRoot, remaining(deadline)); });
  }
}

bool MultiRootStore::check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  for (auto& [root, some] : byRoot(keys, [this](const std::string& key) { return readRootOf(key); })) {
    const auto& onThisRoot = some;  // clang 14 cannot capture a structured binding
    if (!onRoot(root, [&](Store& s) { return s.check(onThisRoot, timeout); })) return false;
  }
  return true;
}

std::string MultiRootStore::localAddress() const {
  std::string own = roots_[static_cast<std::size_t>(ownRoot())]->localAddress();
  return own.empty() ? roots_[0]->localAddress() : own;
}

std::vector<std::uint64_t> MultiRootStore::requestsPerRoot() const {
  std::vector<std::uint64_t> counts;
  for (std::size_t j = 0; j < roots_.size(); ++j) counts.push_back(requests_[j].load(std::memory_order_relaxed));
  return counts;
}

const MultiRootStore* findRoots(const Store& store) {
  const Store* at = &store;
  while (at != nullptr) {
    if (const auto* roots = dynamic_cast<const MultiRootStore*>(at)) return roots;
    if (const auto* forwarding = dynamic_cast<const ForwardingStore*>(at)) {
      at = forwarding->inner().get();
    } else if (const auto* prefixed = dynamic_cast<const PrefixStore*>(at)) {
      at = prefixed->inner().get();
    } else {
      at = nullptr;
    }
  }
  return nullptr;
}

}  // namespace banyan::bootstrap
