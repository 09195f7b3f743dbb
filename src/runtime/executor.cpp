#include "runtime/executor.hpp"

#include "observe/tracer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace banyan::runtime {

using algorithms::BufferId;
using algorithms::StepKind;

std::shared_ptr<const Plan> makePlan(algorithms::Schedule schedule) {
  auto plan = std::make_shared<Plan>();
  const auto& steps = schedule.steps;
  const std::size_t n = steps.size();

  std::vector<std::uint32_t> counts(n + 1, 0);
  for (const auto& step : steps) {
    for (std::uint8_t d = 0; d < step.depCount; ++d) ++counts[step.deps[d] + 1];
  }
  for (std::size_t i = 0; i < n; ++i) counts[i + 1] += counts[i];
  plan->dependentsBegin = counts;
  plan->dependents.resize(counts[n]);
  for (std::uint32_t i = 0; i < n; ++i) {
    for (std::uint8_t d = 0; d < steps[i].depCount; ++d) plan->dependents[counts[steps[i].deps[d]]++] = i;
  }

  plan->peerSlot.assign(n, -1);
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto& step = steps[i];
    if (step.kind != StepKind::Send && step.kind != StepKind::Recv) continue;
    auto it = std::find(plan->peers.begin(), plan->peers.end(), step.peer);
    if (it == plan->peers.end()) {
      plan->peers.push_back(step.peer);
      plan->sendsByPeer.emplace_back();
      plan->recvsByPeer.emplace_back();
      it = plan->peers.end() - 1;
    }
    const auto slot = static_cast<std::size_t>(it - plan->peers.begin());
    plan->peerSlot[i] = static_cast<int>(slot);
    (step.kind == StepKind::Send ? plan->sendsByPeer : plan->recvsByPeer)[slot].push_back(i);
  }
  plan->schedule = std::move(schedule);
  return plan;
}

std::byte* Executor::address(const algorithms::Span& span) const {
  std::byte* base = nullptr;
  switch (span.buffer) {
    case BufferId::Input:
      base = const_cast<std::byte*>(current_.input);
      break;
    case BufferId::Output:
      base = current_.output;
      break;
    case BufferId::Scratch:
      base = current_.scratch;
      break;
  }
  return base + span.offset * current_.elementSize;
}

void Executor::start(Operation operation) {
  current_ = std::move(operation);
  busy_ = true;
  ++generation_;
  kernel_ = reduce::kernelFor(current_.type, current_.op);

  const Plan& plan = *current_.plan;
  const auto& steps = plan.schedule.steps;
  stepsLeft_ = steps.size();
  depsLeft_.resize(steps.size());
  ready_.assign(steps.size(), 0);
  localReady_.clear();
  networkReady_.clear();
  for (std::uint32_t i = 0; i < steps.size(); ++i) {
    depsLeft_[i] = steps[i].depCount;
    if (depsLeft_[i] == 0) makeReady(i);
  }
  const std::size_t peerCount = plan.peers.size();
  sendCursor_.assign(peerCount, 0);
  recvCursor_.assign(peerCount, 0);
  sendsDone_.assign(peerCount, 0);
  recvsDone_.assign(peerCount, 0);

  if (stepsLeft_ == 0) {
    finish(Status::ok());
    return;
  }
  drain();
}

void Executor::makeReady(std::uint32_t index) {
  const StepKind kind = current_.plan->schedule.steps[index].kind;
  if (kind == StepKind::Send || kind == StepKind::Recv) {
    networkReady_.push_back(index);
  } else {
    localReady_.push_back(index);
  }
}

// Runs what is ready: first hands every ready send and receive to the transport, then runs
// local steps one at a time (each may make more steps ready). A loop, not recursion, keeps the
// stack flat however long the schedule. When the last step of an operation finishes here,
// onDone may start the next operation, whose first steps are picked up by this same loop (a
// nested drain() returns at once).
void Executor::drain() {
  if (draining_) return;
  draining_ = true;
  std::size_t localBytes = 0;
  while (busy_) {
    if (!networkReady_.empty()) {
      const std::uint32_t index = networkReady_.back();
      networkReady_.pop_back();
      ready_[index] = 1;
      const auto& step = current_.plan->schedule.steps[index];
      postReady(static_cast<std::size_t>(current_.plan->peerSlot[index]), step.kind == StepKind::Send);
      continue;
    }
    if (localReady_.empty()) break;
    if (localBytes >= kYieldBytes) {
      // Let the event loop move bytes, then come back for the rest.
      defer_([this, generation = generation_] {
        if (generation == generation_) drain();
      });
      break;
    }
    const std::uint32_t index = localReady_.front();
    localReady_.pop_front();
    localBytes += runLocal(index);
  }
  draining_ = false;
}

std::size_t Executor::runLocal(std::uint32_t index) {
  const auto& step = current_.plan->schedule.steps[index];
  const double traceStart = tracer_ ? observe::Tracer::now() : 0.0;
  std::byte* dst = address(step.dst);
  const std::size_t count = step.dst.count;
  std::size_t bytes = 0;
  if (step.kind == StepKind::Copy) {
    const std::byte* from = address(step.a);
    if (from != dst && count != 0) {
      std::memcpy(dst, from, count * current_.elementSize);
      bytes = count * current_.elementSize;
    }
  } else {
    if (current_.reduceWith) {
      current_.reduceWith(dst, address(step.a), address(step.b), count);
    } else {
      kernel_(dst, address(step.a), address(step.b), count);
    }
    if (step.finalize && current_.op == ReduceOp::avg) reduce::divideBy(current_.type, dst, count, current_.nranks);
    bytes = count * current_.elementSize;
  }
  if (tracer_) {
    tracer_->local(step.kind == StepKind::Copy ? "copy" : "reduce", bytes, current_.sequence, traceStart,
                   observe::Tracer::now());
  }
  stepDone(index);
  return bytes;
}

// Hands the transport every ready send (or recv) of one peer that is next in step order.
void Executor::postReady(std::size_t slot, bool sends) {
  // A transport already shut down fails a post at once, inside the call, and that ends the
  // operation (finish() drops current_ and its plan, and onDone may start the next one): after
  // each post, the loop goes on only while the operation is still the one it posts for.
  const Plan* plan = current_.plan.get();
  const std::uint64_t generation = generation_;
  const auto& order = sends ? plan->sendsByPeer[slot] : plan->recvsByPeer[slot];
  const auto cursor = [&]() -> std::size_t& { return sends ? sendCursor_[slot] : recvCursor_[slot]; };
  while (cursor() < order.size() && ready_[order[cursor()]]) {
    const std::uint32_t index = order[cursor()++];
    const auto& step = plan->schedule.steps[index];
    const double posted = tracer_ ? observe::Tracer::now() : 0.0;
    auto done = [this, index, generation, slot, sends, posted](const Status& status) {
      if (generation != generation_ || !busy_) return;  // an operation that already ended
      if (!status.isOk()) {
        finish(status);
        return;
      }
      if (tracer_) {
        const auto& moved = current_.plan->schedule.steps[index];
        tracer_->transfer(sends, moved.peer, (sends ? moved.a.count : moved.dst.count) * current_.elementSize,
                          current_.sequence, posted, observe::Tracer::now());
      }
      ++(sends ? sendsDone_ : recvsDone_)[slot];
      stepDone(index);
      drain();
    };
    if (sends) {
      transport_.send(step.peer, current_.tag, address(step.a), step.a.count * current_.elementSize, std::move(done));
    } else {
      transport_.recv(step.peer, current_.tag, address(step.dst), step.dst.count * current_.elementSize,
                      std::move(done));
    }
    if (generation != generation_) return;  // `plan` and `order` may be gone
  }
}

void Executor::stepDone(std::uint32_t index) {
  const Plan& plan = *current_.plan;
  for (std::uint32_t k = plan.dependentsBegin[index]; k < plan.dependentsBegin[index + 1]; ++k) {
    const std::uint32_t next = plan.dependents[k];
    if (--depsLeft_[next] == 0) makeReady(next);
  }
  if (--stepsLeft_ == 0) finish(Status::ok());
}

void Executor::fail(const Status& status) {
  if (busy_) finish(status);
}

void Executor::finish(const Status& status) {
  busy_ = false;
  ++generation_;
  localReady_.clear();
  networkReady_.clear();
  auto onDone = std::move(current_.onDone);
  current_ = Operation{};
  if (onDone) onDone(status);
}

std::string Executor::describePending() const {
  if (!busy_) return "nothing";
  const Plan& plan = *current_.plan;
  std::string text;
  for (std::size_t slot = 0; slot < plan.peers.size(); ++slot) {
    const int peer = plan.peers[slot];
    const std::size_t recvs = plan.recvsByPeer[slot].size();
    const std::size_t sends = plan.sendsByPeer[slot].size();
    if (recvsDone_[slot] < recvs) {
      text += fmt::format("{}receive {} of {} from {}", text.empty() ? "" : ", ", recvsDone_[slot] + 1, recvs,
                          transport_.describePeer(peer));
    }
    if (sendsDone_[slot] < sends) {
      text += fmt::format("{}send {} of {} to {}", text.empty() ? "" : ", ", sendsDone_[slot] + 1, sends,
                          transport_.describePeer(peer));
    }
  }
  return text.empty() ? "local steps" : text;
}

}  // namespace banyan::runtime
