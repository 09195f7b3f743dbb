#pragma once
// A Store that hands every call to another one: the base of a store that changes one call (a
// test's fixed job key) or only holds something alive beside the store (the PMIx session).

#include <banyan/store.hpp>

#include <memory>
#include <utility>

namespace banyan::bootstrap {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}
  void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) override {
    inner_->set(key, value, timeout);
  }
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override { return inner_->get(key, timeout); }
  std::int64_t add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) override {
    return inner_->add(key, delta, timeout);
  }
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override {
    inner_->wait(keys, timeout);
  }
  bool check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override {
    return inner_->check(keys, timeout);
  }
  std::string localAddress() const override { return inner_->localAddress(); }
  const std::shared_ptr<Store>& inner() const { return inner_; }

 private:
  std::shared_ptr<Store> inner_;
};

}  // namespace banyan::bootstrap
