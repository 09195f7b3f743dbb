// The C entry points that make, inspect and end communicators (banyan.h, "Communicators").

#include "capi/capi_call.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

using banyan::capi::communicatorOf;
using banyan::capi::guarded;
using banyan::capi::requireArgument;

namespace {

// Hands a new communicator to C. *out is written last, so a failure leaves it untouched.
void giveCommunicator(banyan::Communicator comm, banyan_comm** out) { *out = new banyan_comm{std::move(comm)}; }

// Hands a new communicator to C, or NULL for a rank that is not in it.
void giveMaybe(std::optional<banyan::Communicator> comm, banyan_comm** out) {
  if (comm) {
    giveCommunicator(std::move(*comm), out);
  } else {
    *out = nullptr;
  }
}

// Copies a rank list into a C array of `capacity` entries; the count is the whole list's, so a
// caller with too small an array learns how much room it needs.
void giveRanks(const std::vector<int>& ranks, int* out, int capacity, int* count, const char* function) {
  requireArgument(count, function, "count out-pointer");
  if (capacity < 0) {
    throw banyan::Error(banyan::ErrorCode::InvalidUsage,
                        std::string(function) + ": capacity is " + std::to_string(capacity) + " (at least 0)");
  }
  if (capacity > 0) requireArgument(out, function, "rank array");
  const std::size_t n = std::min(ranks.size(), static_cast<std::size_t>(capacity));
  std::copy_n(ranks.begin(), n, out);
  *count = static_cast<int>(ranks.size());
}

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
    giveMaybe(c.split(color, key), out);
  });
}

banyan_status banyan_comm_subset(banyan_comm* comm, const int* ranks, int nranks, banyan_comm** out) {
  constexpr const char* f = "banyan_comm_subset";
  return guarded(f, [&] {
    banyan::Communicator& c = communicatorOf(comm, f);
    requireArgument(out, f, "out");
    if (nranks < 0) {
      throw banyan::Error(banyan::ErrorCode::InvalidUsage,
                          std::string(f) + ": nranks is " + std::to_string(nranks) + " (at least 0)");
    }
    if (nranks > 0) requireArgument(ranks, f, "ranks");
    giveMaybe(c.subset(std::span<const int>(ranks, static_cast<std::size_t>(nranks))), out);
  });
}

banyan_status banyan_comm_agree(banyan_comm* comm, uint64_t flag, uint64_t* out_flag, int* failed_ranks, int capacity,
                                int* failed_count) {
  constexpr const char* f = "banyan_comm_agree";
  return guarded(f, [&] {
    banyan::Communicator& c = communicatorOf(comm, f);
    requireArgument(out_flag, f, "out_flag");
    requireArgument(failed_count, f, "failed_count");
    const banyan::Agreement agreement = c.agree(flag);
    giveRanks(agreement.failedRanks, failed_ranks, capacity, failed_count, f);
    *out_flag = agreement.flag;
  });
}

banyan_status banyan_comm_lost_ranks(const banyan_comm* comm, int* lost_ranks, int capacity, int* lost_count) {
  constexpr const char* f = "banyan_comm_lost_ranks";
  return guarded(f, [&] { giveRanks(communicatorOf(comm, f).lostRanks(), lost_ranks, capacity, lost_count, f); });
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
