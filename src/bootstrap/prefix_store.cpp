#include <banyan/tcp_store.hpp>

#include "common/status.hpp"

namespace banyan {

PrefixStore::PrefixStore(std::string prefix, std::shared_ptr<Store> inner)
    : prefix_(std::move(prefix)), inner_(std::move(inner)) {
  if (!inner_) fail(ErrorCode::InvalidUsage, "PrefixStore('{}') needs a store, got null", prefix_);
}

void PrefixStore::set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) {
  inner_->set(prefix_ + "/" + key, value, timeout);
}

Store::Bytes PrefixStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  return inner_->get(prefix_ + "/" + key, timeout);
}

std::int64_t PrefixStore::add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) {
  return inner_->add(prefix_ + "/" + key, delta, timeout);
}

namespace {

std::vector<std::string> prefixed(const std::string& prefix, const std::vector<std::string>& keys) {
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const auto& key : keys) out.push_back(prefix + "/" + key);
  return out;
}

}  // namespace

void PrefixStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  inner_->wait(prefixed(prefix_, keys), timeout);
}

bool PrefixStore::check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  return inner_->check(prefixed(prefix_, keys), timeout);
}

}  // namespace banyan
