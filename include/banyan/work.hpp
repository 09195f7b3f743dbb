#pragma once
// Handle to an operation in flight. Cheap to copy; all copies see the same operation.

#include <banyan/error.hpp>

#include <chrono>
#include <exception>
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
  // The error the operation ended with, if it ended with one.
  std::optional<Error> error() const;

 private:
  std::shared_ptr<detail::WorkState> state_;
};

}  // namespace banyan
