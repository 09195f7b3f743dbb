#include <banyan/tcp_store.hpp>

#include "common/status.hpp"

namespace banyan {

PrefixStore::PrefixStore(std::string prefix, std::shared_ptr<Store> inner)
    : prefix_(std::move(prefix)), inner_(std::move(inner)) {
  if (!inner_) fail(ErrorCode::InvalidUsage, "PrefixStore('{}') needs a store, got null", prefix_);
}

void PrefixStore::set(const std::string& key, const Bytes& value,
                      std::chrono::milliseconds timeout) {
  inner_->set(prefix_ + "/" + key, value, timeout);
}

Store::Bytes PrefixStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  return inner_->get(prefix_ + "/" + key, timeout);
}

std::int64_t PrefixStore::add(const std::string& key, std::int64_t delta,
                              std::chrono::milliseconds timeout) {
  return inner_->add(prefix_ + "/" + key, delta, timeout);
}

void PrefixStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::vector<std::string> prefixed;
  prefixed.reserve(keys.size());
  for (const auto& key : keys) prefixed.push_back(prefix_ + "/" + key);
  inner_->wait(prefixed, timeout);
}

}  // namespace banyan
