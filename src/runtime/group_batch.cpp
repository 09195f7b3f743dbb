#include "runtime/group_batch.hpp"

#include "common/status.hpp"

namespace banyan::detail {

namespace {

// Allreduces up to this size (each) are fused in a group: below it a call's cost is mostly
// per-message latency, which fusing pays once; above it the packing copies start to cost more
// than the latency they save. A fused call carries at most kFusedBytes.
constexpr std::size_t kFuseEachBytes = 256 * 1024;
constexpr std::size_t kFusedBytes = 4 * 1024 * 1024;

bool fusable(const CollectiveCall& r) {
  // A compressed allreduce encodes its own buffer (and feeds back its own residual): never fused.
  return r.kind == Collective::Allreduce && r.compression.format == CompressionFormat::none &&
         r.count * dataTypeSize(r.type) <= kFuseEachBytes;
}

bool sameReduction(const CollectiveCall& a, const CollectiveCall& b) {
  return a.type == b.type && a.op == b.op && a.premulFactor == b.premulFactor;
}

}  // namespace

void GroupBatcher::start() {
  std::lock_guard lock(mutex_);
  if (depth_ > 0 && owner_ != std::this_thread::get_id()) {
    fail(ErrorCode::InvalidUsage, "groupStart on {}: another thread has a group open (rank {})", identity_.name,
         identity_.rank);
  }
  owner_ = std::this_thread::get_id();
  ++depth_;
  open_ = true;
}

std::optional<Work> GroupBatcher::collect(const CollectiveCall* collective, const PointToPointCall* pointToPoint,
                                          bool blocking, const char* what) {
  if (!open_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (depth_ == 0 || owner_ != std::this_thread::get_id()) return std::nullopt;
  if (blocking) {
    fail(ErrorCode::InvalidUsage,
         "blocking {} inside a group on {} would wait for itself (groupEnd starts the group's calls); use the Async "
         "call (rank {})",
         what, identity_.name, identity_.rank);
  }
  Grouped call;
  if (collective != nullptr) call.collective = *collective;
  if (pointToPoint != nullptr) call.pointToPoint = *pointToPoint;
  call.state = driver_.newState(std::chrono::steady_clock::now() + timeout_);
  calls_.push_back(call);
  return Work(call.state);
}

std::optional<GroupBatch> GroupBatcher::end() {
  std::vector<Grouped> calls;
  {
    std::lock_guard lock(mutex_);
    if (depth_ == 0 || owner_ != std::this_thread::get_id()) {
      fail(ErrorCode::InvalidUsage, "groupEnd on {} without a groupStart on this thread (rank {})", identity_.name,
           identity_.rank);
    }
    if (--depth_ > 0) return std::nullopt;  // an inner group: the outermost end issues
    calls.swap(calls_);
    open_ = false;
  }
  if (calls.empty()) return std::nullopt;
  auto group = tally(calls, driver_);
  return GroupBatch{fuse(std::move(calls)), std::move(group)};
}

// The group's own Work ends when every call has, with the first error.
std::shared_ptr<WorkState> GroupBatcher::tally(const std::vector<Grouped>& calls, ProgressDriver& driver) {
  auto group = driver.newState(calls.back().state->deadline());
  struct Tally {
    std::mutex mutex;
    std::size_t remaining;
    Status first;
  };
  auto tally = std::make_shared<Tally>();
  tally->remaining = calls.size();
  for (const auto& call : calls) {
    call.state->addAfterDone([tally, group](const std::optional<Error>& error) {
      Status status;
      {
        std::lock_guard lock(tally->mutex);
        if (error && tally->first.isOk()) tally->first = Status(error->code(), error->detail());
        if (--tally->remaining > 0) return;
        status = tally->first;
      }
      group->complete(status);
    });
  }
  return group;
}

// Runs of consecutive small allreduces (among the group's collectives) with one reduction
// become one fused allreduce; its parts' Works end when it does.
std::vector<Grouped> GroupBatcher::fuse(std::vector<Grouped> calls) {
  std::vector<Grouped> batch;
  std::size_t runStart = 0;  // index into batch of the open run's first collective
  bool runOpen = false;
  for (auto& call : calls) {
    if (!call.collective) {
      batch.push_back(std::move(call));
      continue;
    }
    const CollectiveCall& r = *call.collective;
    Grouped* head = runOpen ? &batch[runStart] : nullptr;
    if (head != nullptr && fusable(r) && sameReduction(*head->collective, r) &&
        (head->collective->count + r.count) * dataTypeSize(r.type) <= kFusedBytes) {
      CollectiveCall& fused = *head->collective;
      if (!head->fused) {
        // The run's first call becomes the fused call's first part.
        auto parts = std::make_shared<FusedAllreduce>();
        parts->parts.push_back({fused.send, fused.recv, fused.count, head->state});
        head->fused = parts;
        head->state = driver_.newState(head->state->deadline());
        // Whichever way the fused call ends (run, failed, or dropped from the queue by a
        // failure or close), its parts end with it. After a run they have ended already, with
        // their results unpacked; complete() is first-call-wins.
        head->state->addCallback([parts](const std::optional<Error>& error) {
          const Status status = error ? Status(error->code(), error->detail()) : Status::ok();
          for (const auto& part : parts->parts) part.state->complete(status);
        });
      }
      head->fused->parts.push_back({r.send, r.recv, r.count, call.state});
      fused.count += r.count;
      continue;
    }
    runOpen = fusable(r);
    runStart = batch.size();
    batch.push_back(std::move(call));
  }
  return batch;
}

}  // namespace banyan::detail
