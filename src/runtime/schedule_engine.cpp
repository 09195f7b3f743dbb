#include "runtime/schedule_engine.hpp"

#include "algorithms/alltoall.hpp"
#include "algorithms/slicing.hpp"

#include <algorithm>

namespace banyan::runtime {

ScheduleEngine::ScheduleEngine(transport::Transport& transport, std::function<void(std::function<void()>)> defer,
                               int rank, int size, std::size_t sliceBytes)
    : transport_(transport),
      executor_(transport, std::move(defer)),
      rank_(rank),
      size_(size),
      sliceBytes_(sliceBytes) {}

Status ScheduleEngine::start(const CollectiveCall& call, tuning::Algorithm algorithm, std::uint64_t sequence,
                             std::uint64_t tag, std::function<void(const Status&)> onDone) {
  const std::size_t element = carriedElementBytes(call);
  PlanOrRefusal planned = plan(call, algorithm, element);
  if (!planned.plan) {
    // The API front refuses what users can get wrong, and the selector picks only what fits, so
    // a refusal here is banyan's defect: it fails this call, named, and nothing else.
    return Status(ErrorCode::Internal, fmt::format("{} cannot be planned with {}: {}", apiName(call.kind),
                                                   tuning::toString(algorithm), planned.refusal));
  }
  scratch_.reserve(planned.plan->schedule.scratchCount * element);
  Operation operation;
  operation.tag = tag;
  operation.sequence = sequence;
  operation.plan = std::move(planned.plan);
  operation.input = static_cast<const std::byte*>(call.send);
  operation.output = static_cast<std::byte*>(call.recv);
  operation.scratch = scratch_.data();
  operation.elementSize = element;
  operation.type = call.type;
  operation.op = call.op;
  operation.reduceWith = call.reduceWith;
  operation.nranks = size_;
  operation.onDone = std::move(onDone);
  executor_.start(std::move(operation));
  return Status::ok();
}

PlanOrRefusal ScheduleEngine::plan(const CollectiveCall& call, tuning::Algorithm algorithm, std::size_t element) {
  if (call.kind == Collective::Alltoallv) {
    // Its tables change from call to call, so it is planned per call, not cached (the API front
    // has checked the tables: pairwiseAlltoallv's own checks cannot fail here).
    const BlockTables& t = *call.blocks;
    return {
        makePlan(algorithms::pairwiseAlltoallv(rank_, size_, t.sendCounts, t.sendOffsets, t.recvCounts, t.recvOffsets)),
        {}};
  }
  return plans_.get(call.kind, algorithm, rank_, size_, call.root, call.count, sliceElements(call, element));
}

std::size_t ScheduleEngine::sliceElements(const CollectiveCall& call, std::size_t elementSize) const {
  // The rule (and why) is algorithms/slicing.hpp's, which banyan-sim simulates too.
  return algorithms::sliceElements(call.kind, size_, call.count, elementSize, sliceBytes_);
}

}  // namespace banyan::runtime
