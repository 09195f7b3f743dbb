#include "runtime/work_state.hpp"

#include "common/cpu_relax.hpp"

#include <algorithm>

namespace banyan {
namespace detail {

namespace {

void runCallback(const WorkState::Callback& callback, const Status& status) {
  const std::optional<Error> error = status.isOk() ? std::nullopt : std::optional<Error>(status.toError());
  try {
    callback(error);
  } catch (...) {
    // A user's callback must not take the progress engine down with it.
  }
}

}  // namespace

// Callbacks run before the operation counts as done, so a wait() that returns has seen them
// all (a test can check what they did right after waiting). One added while they run is
// picked up by the loop.
void WorkState::complete(const Status& status) {
  std::unique_lock lock(mutex_);
  if (done_ || completing_) return;
  completing_ = true;
  status_ = status;
  while (!callbacks_.empty()) {
    std::vector<Callback> callbacks;
    callbacks.swap(callbacks_);
    lock.unlock();
    for (const auto& callback : callbacks) runCallback(callback, status);
    lock.lock();
  }
  done_ = true;
  doneFlag_.store(true, std::memory_order_release);
  std::vector<Callback> afterDone;
  afterDone.swap(afterDone_);
  lock.unlock();
  changed_.notify_all();
  for (const auto& callback : afterDone) runCallback(callback, status);
}

void WorkState::addAfterDone(Callback callback) {
  {
    std::lock_guard lock(mutex_);
    if (!done_) {
      afterDone_.push_back(std::move(callback));
      return;
    }
  }
  runCallback(callback, status());
}

void WorkState::addCallback(Callback callback) {
  {
    std::lock_guard lock(mutex_);
    if (!done_) {
      callbacks_.push_back(std::move(callback));
      return;
    }
  }
  runCallback(callback, status());
}

bool WorkState::waitUntil(std::chrono::steady_clock::time_point until) const {
  if (done()) return true;
  // Nobody else progressing the communicator: this thread does, and sees its result at once.
  if (driver_ != nullptr && driver_->tryDriveUntil(*this, until)) return done();
  // Another thread drives; it completes this state. A small collective usually ends within
  // microseconds, so poll that long before sleeping on the condition variable.
  if (spin_.count() > 0) {
    const auto spinEnd = std::min(until, std::chrono::steady_clock::now() + spin_);
    while (!done() && std::chrono::steady_clock::now() < spinEnd) cpuRelax();
    if (done()) return true;
  }
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, until, [this] { return done_; });
}

Status WorkState::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

}  // namespace detail

Work::Work(std::shared_ptr<detail::WorkState> state) : state_(std::move(state)) {}

void Work::wait() const {
  if (!state_) return;
  // The progress thread fails every operation by its deadline; the slack covers a loaded
  // machine. Past it, the runtime itself is stuck, and saying so beats hanging.
  const auto limit = state_->deadline() + std::chrono::seconds(30);
  if (!state_->waitUntil(limit)) {
    throw Error(ErrorCode::Internal,
                "operation still running 30 s after its deadline: the progress thread is stuck (please report)");
  }
  state_->status().throwIfError();
}

bool Work::waitFor(std::chrono::milliseconds timeout) const {
  if (!state_) return true;
  if (!state_->waitUntil(std::chrono::steady_clock::now() + timeout)) return false;
  state_->status().throwIfError();
  return true;
}

bool Work::test() const { return !state_ || state_->done(); }

int Work::source() const { return state_ && state_->done() ? state_->source() : -1; }

void Work::then(std::function<void(const std::optional<Error>&)> callback) const {
  if (!callback) return;
  if (!state_) {
    callback(std::nullopt);  // an empty handle has completed without error
    return;
  }
  state_->addCallback(std::move(callback));
}

std::optional<Error> Work::error() const {
  if (!state_ || !state_->done()) return std::nullopt;
  Status status = state_->status();
  if (status.isOk()) return std::nullopt;
  return status.toError();
}

}  // namespace banyan
