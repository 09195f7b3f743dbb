#pragma once
// Why an operation failed, as every rank should say it: the first rank lost, not the neighbour
// that happened to close on this one. Losses and the accounts of ranks that failed for reasons
// of their own travel over the control channel (resilience/control_plane.hpp), which reaches
// every rank even when the store's host (rank 0 under torchrun or mpirun) is the one that died;
// the store is used only to name both sides of a mismatched call. failure_accounts.cpp has the
// protocol. Driving thread only.

#include "common/status.hpp"
#include "resilience/control_plane.hpp"
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
  // `identity` and `control` outlive the accounts.
  FailureAccounts(std::shared_ptr<Store> store, const Identity& identity, std::chrono::milliseconds timeout,
                  resilience::ControlPlane& control);

  // The operation `pending` failed with `failed` (not Aborted): finds the first rank lost (or
  // the account of the peer that closed, or the call a peer sent a message of), tells the peers
  // what they cannot know already, and returns the fuller error.
  Status settle(const Status& failed, const Pending& pending);
  // A send or receive (`what`) failed with `failed`: if a peer was lost, the error names the
  // first rank lost, as settle() does for collectives. (A transfer's other failures, such as a
  // length mismatch, leave the communicator usable and need no account.)
  Status settleTransfer(const Status& failed, const std::string& what);
  // This rank closes with work pending: peers waiting on that work see it go, and learn why.
  void leaving(const Status& why);
  bool published() const { return published_; }

 private:
  // What a peer's account says when it received a message of ours from another call.
  std::string aboutOurMessage() const;
  // `operation` describes what failed; `pending`, when a collective, lets a mismatch seen from
  // the other side name both calls.
  Status explainLoss(const Status& failed, const std::string& operation, const Pending* pending);
  // A peer sent a message of another call: publish ours, read theirs, and say both.
  Status explainMismatch(const Status& failed, const Pending& pending);
  // Publishes this rank's call, reads `peer`'s: an InvalidUsage naming both, if the peer said.
  std::optional<Status> exchangeCalls(int peer, const Pending& pending);
  // How `failed` says its lost peer went, for the notice to every rank.
  std::string causeOf(const Status& failed) const;
  std::string describe(const Pending& pending) const;
  void leave(const Status& account);

  std::shared_ptr<Store> store_;
  const Identity& identity_;
  const std::chrono::milliseconds timeout_;
  resilience::ControlPlane& control_;
  bool published_ = false;
};

}  // namespace banyan::detail
