#include "runtime/schedule_engine.hpp"

#include "algorithms/alltoall.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>

namespace banyan::runtime {

ScheduleEngine::ScheduleEngine(transport::Transport& transport, std::function<void(std::function<void()>)> defer,
                               int rank, int size, std::size_t sliceBytes)
    : transport_(transport), executor_(transport, std::move(defer)), rank_(rank), size_(size), sliceBytes_(sliceBytes) {}

Status ScheduleEngine::start(const CollectiveCall& call, tuning::Algorithm algorithm, std::uint64_t sequence,
                             std::uint64_t tag, std::function<void(const Status&)> onDone) {
  const std::size_t element = dataTypeSize(call.type);
  std::shared_ptr<const Plan> planned;
  // Generators check their preconditions (a rank count a schedule needs, say) and throw; the
  // selector should never ask for such a plan, so one that fails here says which call and
  // algorithm met which rule, as a value the runner turns into the operation's error.
  try {
    planned = plan(call, algorithm, element);
  } catch (const Error& e) {
    return Status(e.code(), fmt::format("{} cannot be planned with {}: {}", apiName(call.kind),
                                        tuning::toString(algorithm), e.detail()));
  } catch (const std::invalid_argument& e) {
    return Status(ErrorCode::InvalidUsage, fmt::format("{} cannot be planned with {}: {}", apiName(call.kind),
                                                       tuning::toString(algorithm), e.what()));
  } catch (const std::exception& e) {
    return Status(ErrorCode::Internal, fmt::format("{} with {}: planning failed: {}", apiName(call.kind),
                                                   tuning::toString(algorithm), e.what()));
  }
  scratch_.reserve(planned->schedule.scratchCount * element);
  Operation operation;
  operation.tag = tag;
  operation.sequence = sequence;
  operation.plan = std::move(planned);
  operation.input = static_cast<const std::byte*>(call.send);
  operation.output = static_cast<std::byte*>(call.recv);
  operation.scratch = scratch_.data();
  operation.elementSize = element;
  operation.type = call.type;
  operation.op = call.op;
  operation.nranks = size_;
  operation.onDone = std::move(onDone);
  executor_.start(std::move(operation));
  return Status::ok();
}

std::shared_ptr<const Plan> ScheduleEngine::plan(const CollectiveCall& call, tuning::Algorithm algorithm,
                                                 std::size_t element) {
  if (call.kind == Collective::Alltoallv) {
    // Its tables change from call to call, so it is planned per call, not cached.
    const BlockTables& t = *call.blocks;
    return makePlan(
        algorithms::pairwiseAlltoallv(rank_, size_, t.sendCounts, t.sendOffsets, t.recvCounts, t.recvOffsets));
  }
  return plans_.get(call.kind, algorithm, rank_, size_, call.root, call.count, sliceElements(call, element));
}

// A pipeline needs a few slices per chunk to overlap anything, and each slice costs a message:
// aim for kSlicesPerChunk slices, never below kMinSliceBytes, never above BANYAN_SLICE_BYTES.
// (Swept on 2 ranks over loopback: 1 MiB allreduce is fastest with 128 KiB slices, 64 MiB with
// 1 MiB slices.)
std::size_t ScheduleEngine::sliceElements(const CollectiveCall& call, std::size_t elementSize) const {
  // A two-rank broadcast is one message: slices would pipeline nothing (no rank forwards) and
  // only add messages (2 ranks over shm, 16 MiB: 7.8-8.0 ms in 1 MiB slices, 4.5-4.9 ms whole).
  if (call.kind == Collective::Broadcast && size_ == 2) return std::max<std::size_t>(1, call.count);
  constexpr std::size_t kSlicesPerChunk = 4;
  constexpr std::size_t kMinSliceBytes = 64 * 1024;
  const std::size_t chunkBytes =
      call.count * elementSize / (call.kind == Collective::Allreduce ? static_cast<std::size_t>(size_) : 1);
  const std::size_t sliceBytes = std::min(sliceBytes_, std::max(kMinSliceBytes, chunkBytes / kSlicesPerChunk));
  return std::max<std::size_t>(1, sliceBytes / elementSize);
}

}  // namespace banyan::runtime
