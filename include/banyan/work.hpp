#pragma once
// Handle to an operation in flight. Cheap to copy; all copies see the same operation.

#include <banyan/error.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>

namespace banyan {

namespace detail {
class WorkState;
}

class Work {
 public:
  Work() = default;  // an empty handle: completed, no error
  explicit Work(std::shared_ptr<detail::WorkState> state);

  // Blocks (without spinning) until the operation ends; throws its banyan::Error if it failed.
  // The runtime fails every operation by its deadline, so this never blocks forever.
  void wait() const;
  // As wait(), but gives up after `timeout` and returns false (the operation keeps going).
  bool waitFor(std::chrono::milliseconds timeout) const;
  // True once the operation has ended, successfully or not. Never blocks.
  bool test() const;
  // For a receive that has ended successfully, the rank its message came from (the way to
  // learn it after a receive from Communicator::kAnySource); -1 for anything else.
  int source() const;
  // The error the operation ended with, if it ended with one.
  std::optional<Error> error() const;

  // Runs `callback` once the operation has ended, with its error if it failed: on the thread
  // that completes it (the communicator's progress thread, or a thread waiting on one of its
  // operations), or at once on this thread if it has ended already. Callbacks run before the
  // operation counts as ended, so once wait() returns they have all run. Callbacks of one
  // operation run in the order they were added, and operations complete in issue order, so
  // their callbacks do too. A callback must be short and must not call a blocking operation,
  // wait() or close() on the same communicator or one of its family (those split from it or it
  // from, and those made with it as createWithOwnStore's family: they share the event loop the
  // callback runs on); it may start *Async operations. An exception it throws is caught and
  // dropped.
  void then(std::function<void(const std::optional<Error>&)> callback) const;

 private:
  std::shared_ptr<detail::WorkState> state_;
};

}  // namespace banyan
