#include "resilience/watched_store.hpp"

#include "common/status.hpp"

#include <algorithm>

namespace banyan::resilience {

namespace {
constexpr std::chrono::milliseconds kSlice{500};
}

WatchedStore::WatchedStore(std::shared_ptr<Store> inner, std::function<std::optional<std::string>()> abandon)
    : inner_(std::move(inner)), abandon_(std::move(abandon)) {}

template <typename Call>
auto WatchedStore::sliced(std::chrono::milliseconds timeout, Call&& call) -> decltype(call(timeout)) {
  if (!watching_.load()) return call(timeout);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    try {
      return call(std::clamp(left, std::chrono::milliseconds(1), kSlice));
    } catch (const Error& e) {
      if (e.code() != ErrorCode::Timeout) throw;
      if (watching_.load()) {
        if (auto reason = abandon_()) fail(ErrorCode::Remote, "{} (the store call gave up: {})", *reason, e.detail());
      }
      if (left <= kSlice) throw;
    }
  }
}

void WatchedStore::set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) {
  sliced(timeout, [&](std::chrono::milliseconds slice) { inner_->set(key, value, slice); });
}

Store::Bytes WatchedStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  return sliced(timeout, [&](std::chrono::milliseconds slice) { return inner_->get(key, slice); });
}

std::int64_t WatchedStore::add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) {
  return inner_->add(key, delta, timeout);
}

void WatchedStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  sliced(timeout, [&](std::chrono::milliseconds slice) { inner_->wait(keys, slice); });
}

bool WatchedStore::check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  return sliced(timeout, [&](std::chrono::milliseconds slice) { return inner_->check(keys, slice); });
}

}  // namespace banyan::resilience
