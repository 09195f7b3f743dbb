#pragma once
// A Store that counts the requests made through it: how a communicator knows (and says, in its
// INFO summary) what its creation cost the store. At thousands of ranks the store's load is
// what creation time grows with, so the count per rank is what must stay O(1) (issue 19).

#include "bootstrap/forwarding_store.hpp"

#include <atomic>
#include <cstdint>

namespace banyan::bootstrap {

class CountingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) override {
    ++requests_;
    ForwardingStore::set(key, value, timeout);
  }
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override {
    ++requests_;
    return ForwardingStore::get(key, timeout);
  }
  std::int64_t add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) override {
    ++requests_;
    return ForwardingStore::add(key, delta, timeout);
  }
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override {
    ++requests_;
    ForwardingStore::wait(keys, timeout);
  }
  bool check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override {
    ++requests_;
    return ForwardingStore::check(keys, timeout);
  }

  // Requests made so far (one per call: a wait on many keys is one request).
  std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> requests_{0};
};

}  // namespace banyan::bootstrap
