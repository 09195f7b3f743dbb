#pragma once
// The engine that runs schedules: given a call and the algorithm the selector chose, it plans
// (through the plan cache: schedules depend only on the call's shape), reserves scratch memory
// and hands the plan to the executor, which runs it over the communicator's transport.
// Planning failures come back as a Status from start(), never as an exception on the driving
// thread.

#include "common/call.hpp"
#include "common/engine.hpp"
#include "common/status.hpp"
#include "runtime/executor.hpp"
#include "runtime/plan_cache.hpp"
#include "runtime/scratch_buffer.hpp"
#include "transports/transport.hpp"
#include "tuning/algorithm.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>

namespace banyan::runtime {

class ScheduleEngine final : public Engine {
 public:
  // `defer` queues a function on the event loop (asio::post); `sliceBytes`: BANYAN_SLICE_BYTES.
  ScheduleEngine(transport::Transport& transport, std::function<void(std::function<void()>)> defer, int rank, int size,
                 std::size_t sliceBytes);

  // Starts `call` (its buffers as the engine should use them) with `algorithm`; `tag` rides in
  // every message. Returns an Internal error, and never calls `onDone`, when the algorithm
  // cannot plan the call (the registry's scheduleUnfit says why).
  Status start(const CollectiveCall& call, tuning::Algorithm algorithm, std::uint64_t sequence, std::uint64_t tag,
               std::function<void(const Status&)> onDone);

  // The host of every rank, for the two-level schedules (see PlanCache::setHosts).
  void setHosts(std::vector<int> hostOfRank) { plans_.setHosts(std::move(hostOfRank)); }
  // Closes the transport's streams: after a failure they have lost their place.
  void shutdown(const Status& why) { transport_.shutdown(why); }
  // The topology probe measures links through the executor (link_probe.hpp).
  Executor& executor() { return executor_; }

  std::size_t poll() override { return transport_.poll(); }
  bool prepareToSleep() override { return transport_.prepareToSleep(); }
  void awake() override { transport_.awake(); }
  bool busy() const override { return executor_.busy(); }
  bool answersInMemory() const override { return busy() && transport_.answersInMemory(); }
  void fail(const Status& why) override { executor_.fail(why); }
  std::string describePending() const override { return executor_.describePending(); }

 private:
  PlanOrRefusal plan(const CollectiveCall& call, tuning::Algorithm algorithm, std::size_t element);
  std::size_t sliceElements(const CollectiveCall& call, std::size_t elementSize) const;

  transport::Transport& transport_;
  Executor executor_;
  PlanCache plans_;
  ScratchBuffer scratch_;
  const int rank_;
  const int size_;
  const std::size_t sliceBytes_;
};

}  // namespace banyan::runtime
