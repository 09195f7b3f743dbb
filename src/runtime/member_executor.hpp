#pragma once
// How a communicator that shares its family's event loop (runtime/progress_driver.hpp) leaves it
// safely. Its sockets, timers and posted work all run through a MemberExecutor: the loop's own
// executor behind a switch. When the communicator closes, it turns the switch off while holding
// the driver lock; from then on a handler of its work that the loop still holds (a read aborted
// by closing its socket, a cancelled timer, something posted a moment ago) is dropped without
// being called. So the communicator's objects can go at once, while its siblings keep the loop
// running, without an audit of every handler for what it touches after they are gone.

#include <asio.hpp>

#include <atomic>
#include <memory>
#include <type_traits>
#include <utility>

namespace banyan::detail {

// Off once its communicator has closed. Read only by the thread that holds the driver lock, and
// turned off under it; atomic so that a reader that never holds the lock (none today) stays safe.
struct MemberSwitch {
  std::atomic<bool> on{true};
};

// An asio executor (usable as asio::any_io_executor) that runs a function only while its switch
// is on; everything else (the context, blocking, outstanding work) is the inner executor's.
template <typename Inner>
class MemberExecutor {
 public:
  MemberExecutor(Inner inner, std::shared_ptr<MemberSwitch> on) : inner_(std::move(inner)), on_(std::move(on)) {}

  asio::execution_context& query(asio::execution::context_t) const noexcept {
    return asio::query(inner_, asio::execution::context);
  }
  // Forwarded, not fixed: asio skips require(blocking.never) on an executor that claims it
  // already, and a post would then run inline inside the handler that posts it.
  asio::execution::blocking_t query(asio::execution::blocking_t) const noexcept {
    return asio::query(inner_, asio::execution::blocking);
  }
  template <typename Property>
  auto require(const Property& p, std::enable_if_t<asio::can_require<const Inner&, Property>::value>* = nullptr) const {
    return wrap(asio::require(inner_, p));
  }
  template <typename Property>
  auto prefer(const Property& p, std::enable_if_t<asio::can_prefer<const Inner&, Property>::value>* = nullptr) const {
    return wrap(asio::prefer(inner_, p));
  }

  template <typename Function>
  void execute(Function&& f) const {
    asio::execution::execute(inner_, [on = on_, f = std::forward<Function>(f)]() mutable {
      if (on->on.load(std::memory_order_acquire)) f();
    });
  }

  bool operator==(const MemberExecutor& other) const noexcept { return inner_ == other.inner_ && on_ == other.on_; }
  bool operator!=(const MemberExecutor& other) const noexcept { return !(*this == other); }

 private:
  template <typename Other>
  friend class MemberExecutor;

  template <typename Other>
  MemberExecutor<std::decay_t<Other>> wrap(Other&& other) const {
    return MemberExecutor<std::decay_t<Other>>(std::forward<Other>(other), on_);
  }

  Inner inner_;
  std::shared_ptr<MemberSwitch> on_;
};

// The executor a communicator gives its objects: `io`'s, behind `on`.
inline asio::any_io_executor memberExecutor(asio::io_context& io, std::shared_ptr<MemberSwitch> on) {
  return MemberExecutor<asio::io_context::executor_type>(io.get_executor(), std::move(on));
}

}  // namespace banyan::detail
