// The C entry points that make, inspect and end communicators (banyan.h, "Communicators").

#include "capi/capi_call.hpp"

#include <memory>
#include <optional>
#include <utility>

using banyan::capi::communicatorOf;
using banyan::capi::guarded;
using banyan::capi::requireArgument;

namespace {

// Hands a new communicator to C. *out is written last, so a failure leaves it untouched.
void giveCommunicator(banyan::Communicator comm, banyan_comm** out) { *out = new banyan_comm{std::move(comm)}; }

}  // namespace

extern "C" {

banyan_status banyan_comm_from_env(banyan_comm** out) {
  return guarded("banyan_comm_from_env", [&] {
    requireArgument(out, "banyan_comm_from_env", "out");
    giveCommunicator(banyan::Communicator::fromEnvironment(), out);
  });
}

banyan_status banyan_comm_destroy(banyan_comm* comm) {
  return guarded("banyan_comm_destroy", [&] {
    // The handle is freed even if close() fails: the caller cannot retry a destroy.
    const std::unique_ptr<banyan_comm> owned(comm);
    if (owned) owned->comm.close();
  });
}

banyan_status banyan_comm_close(banyan_comm* comm) {
  return guarded("banyan_comm_close", [&] { communicatorOf(comm, "banyan_comm_close").close(); });
}

banyan_status banyan_comm_abort(banyan_comm* comm) {
  return guarded("banyan_comm_abort", [&] { communicatorOf(comm, "banyan_comm_abort").abort(); });
}

banyan_status banyan_comm_rank(const banyan_comm* comm, int* rank) {
  return guarded("banyan_comm_rank", [&] {
    const banyan::Communicator& c = communicatorOf(comm, "banyan_comm_rank");
    requireArgument(rank, "banyan_comm_rank", "rank");
    *rank = c.rank();
  });
}

banyan_status banyan_comm_size(const banyan_comm* comm, int* size) {
  return guarded("banyan_comm_size", [&] {
    const banyan::Communicator& c = communicatorOf(comm, "banyan_comm_size");
    requireArgument(size, "banyan_comm_size", "size");
    *size = c.size();
  });
}

banyan_status banyan_comm_split(banyan_comm* comm, int color, int key, banyan_comm** out) {
  return guarded("banyan_comm_split", [&] {
    banyan::Communicator& c = communicatorOf(comm, "banyan_comm_split");
    requireArgument(out, "banyan_comm_split", "out");
    std::optional<banyan::Communicator> part = c.split(color, key);
    if (part) {
      giveCommunicator(std::move(*part), out);
    } else {
      *out = nullptr;
    }
  });
}

banyan_status banyan_comm_revoke(banyan_comm* comm) {
  return guarded("banyan_comm_revoke", [&] { communicatorOf(comm, "banyan_comm_revoke").revoke(); });
}

banyan_status banyan_comm_shrink(banyan_comm* comm, banyan_comm** out) {
  return guarded("banyan_comm_shrink", [&] {
    banyan::Communicator& c = communicatorOf(comm, "banyan_comm_shrink");
    requireArgument(out, "banyan_comm_shrink", "out");
    giveCommunicator(c.shrink(), out);
  });
}

}  // extern "C"
