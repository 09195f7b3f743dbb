#pragma once
// A store whose waits give up early when a condition says so: shrink() meets the survivors in a
// store served by one of them (resilience/shrink.cpp), and if that rank dies meanwhile the
// others must not wait out the whole BANYAN_TIMEOUT for it. Each call is cut into slices of at
// most kSlice; between slices `abandon()` may return a reason, and the call then fails with
// Remote naming it. The cut calls are all idempotent (set, get, wait, check: the TcpStore
// client drops a connection whose call timed out and the next slice starts afresh); add() is
// passed through whole. stopWatching() turns the checks off for good (once the communicator
// exists, the condition's owner may be gone).

#include <banyan/store.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace banyan::resilience {

class WatchedStore : public Store {
 public:
  WatchedStore(std::shared_ptr<Store> inner, std::function<std::optional<std::string>()> abandon);

  void stopWatching() { watching_.store(false); }

  void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) override;
  Bytes get(const std::string& key, std::chrono::milliseconds timeout) override;
  std::int64_t add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  bool check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  std::string localAddress() const override { return inner_->localAddress(); }

 private:
  template <typename Call>
  auto sliced(std::chrono::milliseconds timeout, Call&& call) -> decltype(call(timeout));

  std::shared_ptr<Store> inner_;
  std::function<std::optional<std::string>()> abandon_;
  std::atomic<bool> watching_{true};
};

}  // namespace banyan::resilience
