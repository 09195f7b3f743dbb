#pragma once
// Failure accounting through the store: when an operation fails, this rank writes why before it
// shuts its connections down, and when it loses a peer it reads that peer's account, so every
// survivor's error names the first rank lost, not only the neighbour that closed on it
// (failure_accounts.cpp has the protocol). Driving thread only.

#include "common/status.hpp"
#include "runtime/identity.hpp"
#include "runtime/operation.hpp"

#include <banyan/store.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace banyan::detail {

class FailureAccounts {
 public:
  // `identity` (its name, rank, size and store prefix) outlives the accounts.
  FailureAccounts(std::shared_ptr<Store> store, const Identity& identity, std::chrono::milliseconds timeout);

  // The operation `pending` failed with `failed` (not Aborted): publishes this rank's account
  // (a first one at once, then the final one), looks up the peer it lost or the call a peer
  // sent a message of, and returns the fuller error.
  Status settle(const Status& failed, const Pending& pending);
  // Publishes `failed` as this rank's final account (closing with work pending).
  void publish(const Status& failed, bool final);
  bool published() const { return published_; }

 private:
  std::string key(int rank) const;
  // What a peer's account says when it received a message of ours from another call.
  std::string aboutOurMessage() const;
  // `peer`'s account, or none when it wrote none (and, unless `exited`, none came within the
  // bound); waits for its final account when the peer may still be writing it.
  std::optional<std::string> lookUpAccount(int peer, bool exited);
  Status explainLoss(const Status& failed, const Pending& pending);
  // A peer sent a message of another call: publish ours, read theirs, and say both.
  Status explainMismatch(const Status& failed, const Pending& pending);
  // Publishes this rank's call, reads `peer`'s: an InvalidUsage naming both, if the peer said.
  std::optional<Status> exchangeCalls(int peer, const Pending& pending);
  std::string describe(const Pending& pending) const;

  std::shared_ptr<Store> store_;
  const Identity& identity_;
  const std::chrono::milliseconds timeout_;
  bool published_ = false;
};

}  // namespace banyan::detail
