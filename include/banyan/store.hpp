#pragma once
// Key-value rendezvous used to bootstrap a communicator: ranks publish their addresses and
// read each other's. Every call carries a deadline; a call that cannot finish by then throws
// banyan::Error(Timeout) naming the key.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace banyan {

class Store {
 public:
  using Bytes = std::vector<std::uint8_t>;
  virtual ~Store() = default;

  // Sets `key` to `value`, replacing an earlier value, and wakes every waiter on `key`.
  virtual void set(const std::string& key, const Bytes& value, std::chrono::milliseconds timeout) = 0;
  // Returns the value of `key`, waiting until some rank has set it.
  virtual Bytes get(const std::string& key, std::chrono::milliseconds timeout) = 0;
  // Adds `delta` to the integer counter `key` (created as 0) and returns the new value.
  virtual std::int64_t add(const std::string& key, std::int64_t delta, std::chrono::milliseconds timeout) = 0;
  // Returns once every key in `keys` has been set.
  virtual void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;
  // Whether every key in `keys` is set now (true for no keys). Waits for no key: `timeout`
  // bounds only the exchange with the store itself. (c10d's Store::check.)
  virtual bool check(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;

  // The local IP address this process uses to reach the store's server, when there is one
  // ("" otherwise). The TCP transport listens there by default: it is the interface that
  // routes to the rest of the job.
  virtual std::string localAddress() const { return {}; }
};

}  // namespace banyan
