#include "runtime/api_front.hpp"

#include "common/status.hpp"
#include "runtime/call_checks.hpp"

namespace banyan::detail {

ApiFront::ApiFront(const Identity& identity, std::chrono::milliseconds timeout, ProgressDriver& driver,
                   asio::any_io_executor executor, OperationRunner& runner, observe::FlightRecorder* recorder)
    : identity_(identity),
      timeout_(timeout),
      driver_(driver),
      executor_(std::move(executor)),
      runner_(runner),
      recorder_(recorder),
      groups_(identity, driver, timeout) {}

std::shared_ptr<WorkState> ApiFront::newState() {
  return driver_.newState(std::chrono::steady_clock::now() + timeout_);
}

Work ApiFront::submit(const CollectiveCall& call, bool blocking) {
  checkCall(call, identity_.rank, identity_.size);
  bindErrorFeedback(call);
  if (auto grouped = groups_.collect(&call, nullptr, blocking, apiName(call.kind))) return *grouped;
  auto state = newState();
  // A blocking call that finds nobody driving becomes the driver at once and queues its
  // operation itself, skipping a trip through the event loop (a post and a wake of epoll).
  std::unique_lock<std::mutex> driver;
  if (blocking) driver = driver_.tryHold();
  bool startHere = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_) {
      fail(ErrorCode::InvalidUsage, "{} on {} after close() (rank {})", apiName(call.kind), identity_.name,
           identity_.rank);
    }
    Pending pending{call, ++sequence_, state};
    recordQueued(pending);
    driver_.operationQueued();
    if (driver.owns_lock() && postedStarts_ == 0) {
      // Nothing posted is waiting to start before it, so queueing here keeps issue order; and
      // anything another thread posts from now on runs under the driver lock, after us.
      runner_.add(std::move(pending));
      startHere = true;
    } else {
      ++postedStarts_;
      asio::post(executor_, [this, pending = std::move(pending)]() mutable {
        --postedStarts_;
        runner_.add(std::move(pending));
        runner_.startNext();
      });
    }
  }
  // Outside mutex_: starting may complete operations, whose callbacks may submit more.
  if (startHere) runner_.startNext();
  // The caller goes back to computing: the progress thread drives. (A blocking caller drives
  // itself in Work::wait, and waking the progress thread would only race it.)
  if (!blocking) driver_.wakeProgressThread();
  return Work(state);
}

Work ApiFront::submit(const PointToPointCall& call, bool blocking) {
  checkCall(call, identity_.rank, identity_.size);
  const char* what = call.isSend ? "send" : "recv";
  if (auto grouped = groups_.collect(nullptr, &call, blocking, what)) return *grouped;
  auto state = newState();
  // As for collectives: a blocking call that finds nobody driving starts its own send or
  // receive at once, skipping a trip through the event loop and a hand-off to the progress
  // thread; anything else is posted to the loop.
  std::unique_lock<std::mutex> driver;
  if (blocking) driver = driver_.tryHold();
  std::uint64_t number = 0;
  bool startHere = false;
  {
    // Started in issue order under one lock, so two sends to one peer with one tag leave in
    // the order they were called, even from several threads.
    std::lock_guard lock(mutex_);
    if (closed_)
      fail(ErrorCode::InvalidUsage, "{} on {} after close() (rank {})", what, identity_.name, identity_.rank);
    number = ++p2pSequence_;
    driver_.operationQueued();
    if (driver.owns_lock() && postedPointToPoint_ == 0) {
      startHere = true;
    } else {
      ++postedPointToPoint_;
      asio::post(executor_, [this, call, number, state] {
        --postedPointToPoint_;
        runner_.startTransfer(call, number, state);
      });
    }
  }
  if (startHere) runner_.startTransfer(call, number, state);
  if (!blocking) driver_.wakeProgressThread();
  return Work(state);
}

Work ApiFront::groupEnd() {
  auto batch = groups_.end();
  if (!batch) return Work();
  auto group = batch->group;
  // As for a blocking call: when nobody drives, the group's calls start on this thread at once
  // (its caller most often waits for the group next), skipping a post through the event loop.
  // The progress thread is woken either way, so the group goes on if the caller computes.
  auto driver = driver_.tryHold();
  issue(std::move(*batch), driver.owns_lock());
  if (driver.owns_lock()) driver.unlock();
  driver_.wakeProgressThread();
  return Work(group);
}

// A group's calls are numbered together and started together: here, holding the driver lock
// with nothing posted before them, or as one handler posted to the loop.
void ApiFront::issue(GroupBatch batch, bool driving) {
  std::vector<GroupStart> starts;
  {
    std::lock_guard lock(mutex_);
    if (closed_) {
      const Status closed = Status::make(ErrorCode::InvalidUsage, "groupEnd on {} after close() (rank {})",
                                         identity_.name, identity_.rank);
      for (auto& call : batch.calls) {
        if (call.fused) {
          for (auto& part : call.fused->parts) part.state->complete(closed);
        } else {
          call.state->complete(closed);
        }
      }
      return;
    }
    for (auto& call : batch.calls) {
      driver_.operationQueued();
      if (call.collective) {
        starts.push_back({Pending{*call.collective, ++sequence_, call.state, call.fused}, std::nullopt, 0, nullptr});
        recordQueued(*starts.back().collective);
      } else {
        starts.push_back({std::nullopt, call.pointToPoint, ++p2pSequence_, call.state});
      }
    }
    if (!driving || postedStarts_ > 0 || postedPointToPoint_ > 0) {
      ++postedStarts_;
      ++postedPointToPoint_;
      asio::post(executor_, [this, starts = std::move(starts)]() mutable {
        --postedStarts_;
        --postedPointToPoint_;
        start(starts);
      });
      return;
    }
  }
  // Outside mutex_, as in submit(): starting may complete operations, whose callbacks may submit more.
  start(starts);
}

void ApiFront::start(std::vector<GroupStart>& starts) {
  for (auto& start : starts) {
    if (start.collective) {
      runner_.add(std::move(*start.collective));
    } else {
      runner_.startTransfer(*start.pointToPoint, start.number, start.state);
    }
  }
  runner_.startNext();
}

void ApiFront::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
}

void ApiFront::recordQueued(const Pending& p) {
  if (!recorder_) return;
  const CollectiveCall& r = p.call;
  observe::CallDetails details;
  if (p.fused) details.fusedCalls = p.fused->parts.size();
  details.premulFactor = r.premulFactor;
  if (reduces(r.kind)) details.op = toString(r.op);
  if (isRooted(r.kind)) details.root = r.root;
  recorder_->queued(p.sequence, apiName(r.kind), r.count, r.count * dataTypeSize(r.type), r.type, details);
}

}  // namespace banyan::detail
