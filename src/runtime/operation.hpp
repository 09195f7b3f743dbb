#pragma once
// A collective call once the API front has accepted it: numbered, with the Work it completes.

#include "common/call.hpp"
#include "runtime/work_state.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace banyan::detail {

// Small allreduces of one group, run as one in place on a packed buffer (group_batch.hpp).
struct FusedAllreduce {
  struct Part {
    const void* send;
    void* recv;
    std::size_t count;
    std::shared_ptr<WorkState> state;
  };
  std::vector<Part> parts;
};

struct Pending {
  CollectiveCall call;  // a fused one: the whole packed allreduce (count is the parts' total)
  std::uint64_t sequence;
  std::shared_ptr<WorkState> state;
  std::shared_ptr<FusedAllreduce> fused = nullptr;  // set when the call stands for a group's parts
};

}  // namespace banyan::detail
