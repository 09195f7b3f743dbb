#include "runtime/operation_runner.hpp"

#include "common/log.hpp"
#include "reduce/reduce.hpp"
#include "runtime/call_text.hpp"
#include "runtime/compressed_call.hpp"

#include <cstring>

namespace banyan::detail {

OperationRunner::OperationRunner(RunnerParts parts, const Identity& identity, const config::Config& config)
    : parts_(parts), identity_(identity), config_(config), timer_(parts.executor), graceTimer_(parts.executor) {}

namespace {
// A rank that exits right after a collective (without closing) may have done its part of the
// others' copy of it: they finish within this, or fail.
constexpr std::chrono::milliseconds kLossGrace{250};
}  // namespace

void OperationRunner::breakAfterGrace(const Status& why) {
  noticeBreak();
  if (!current_ && !parts_.p2p.busy()) {
    failEverything(why, false);
    return;
  }
  graceTimer_.expires_after(kLossGrace);
  graceTimer_.async_wait([this, why](const asio::error_code& ec) {
    if (!ec) failEverything(why, false);
  });
}

std::string OperationRunner::describe(const Pending& pending) const {
  return describeOperation(pending, identity_.rank, identity_.size);
}

// A loss or revocation the control channel reported may not have reached the event loop yet
// (its failEverything is posted there): an operation about to start checks first, so it fails
// at once instead of waiting on a peer that has gone.
void OperationRunner::noticeBreak() {
  if (broken_.isOk() && parts_.control.broken()) broken_ = parts_.control.breakStatus();
}

void OperationRunner::closeTransports(const Status& why) {
  if (transportsClosed_) return;
  transportsClosed_ = true;
  graceTimer_.cancel();
  parts_.schedule.shutdown(why);
  parts_.p2p.fail(why);
}

void OperationRunner::startNext() {
  if (starting_) return;  // an operation finishing inside start() comes back to this loop
  starting_ = true;
  while (!running_ && !queue_.empty()) {
    running_ = true;
    Pending pending = std::move(queue_.front());
    queue_.pop_front();
    noticeBreak();
    if (!broken_.isOk()) {
      // The first operation to meet a break the control channel reported fails with it (a
      // loss is Remote); later ones are Aborted, pointing at it.
      const Status refused = !breakReported_
                                 ? broken_.withContext(describe(pending))
                                 : Status::make(ErrorCode::Aborted, "{}: {} is unusable after an earlier failure: {}",
                                                describe(pending), identity_.name, broken_.message());
      breakReported_ = true;
      closeTransports(broken_);
      if (parts_.recorder) parts_.recorder->finished(pending.sequence, refused);
      finishOperation(pending.state, refused);
      continue;
    }
    start(std::move(pending));
  }
  starting_ = false;
}

void OperationRunner::start(Pending pending) {
  current_ = std::make_unique<Pending>(std::move(pending));
  parts_.control.entered(current_->sequence);
  armWatchdog();
  const CollectiveCall call = prepareInput(*current_);
  const std::size_t bytes = call.count * carriedElementBytes(call);  // per rank, as CollectiveCall::count
  // The selector decides between the shared-memory engine and the schedules (a forced band
  // wins over the engine: tuning/selector.hpp); the choice is logged once per kind and algorithm.
  tuning::Choice choice = parts_.selector.choose(call.kind, bytes);
  if (call.compression.format != CompressionFormat::none) {
    // Always the ring: each of its Reduce steps lands in the result, where the re-encoding's
    // residual can be kept for error feedback (compressed_call.hpp); docs/numerics.md.
    choice = tuning::Choice{};
    choice.why = "a compressed allreduce runs the ring";
  }
  announce(*current_, choice, bytes);
  if (choice.algorithm == tuning::Algorithm::SharedMemory) {
    startInSharedMemory(call);
  } else {
    startSchedule(call, choice.algorithm);
  }
}

CollectiveCall OperationRunner::prepareInput(const Pending& pending) {
  CollectiveCall call = pending.call;
  const std::size_t element = dataTypeSize(call.type);
  if (pending.fused) {
    // A group's small allreduces, packed one after another and reduced in place together.
    fusion_.reserve(call.count * element);
    std::size_t offset = 0;
    for (const auto& part : pending.fused->parts) {
      if (part.count > 0) std::memcpy(fusion_.data() + offset * element, part.send, part.count * element);
      offset += part.count;
    }
    call.send = call.recv = fusion_.data();
  }
  if (call.compression.format != CompressionFormat::none) return encodeCompressed(call, compressed_, compressedSums_);
  if (call.premulFactor) {
    // Scale this rank's input aside, then sum as usual: the caller's buffers are untouched
    // until the result lands, whether the call is in place or not.
    const std::size_t elements =
        call.kind == Collective::ReduceScatter ? call.count * static_cast<std::size_t>(identity_.size) : call.count;
    premultiplied_.reserve(elements * element);
    reduce::scale(call.type, premultiplied_.data(), call.send, elements, *call.premulFactor);
    call.send = premultiplied_.data();
  }
  return call;
}

void OperationRunner::announce(const Pending& pending, const tuning::Choice& choice, std::size_t bytes) {
  const Collective kind = pending.call.kind;
  if (log::enabled(log::LogLevel::Info, log::Subsystem::Tuning) && announced_.insert({kind, choice.algorithm}).second) {
    log::info(identity_.logAs(log::Subsystem::Tuning), "{}: {} of {} B per rank uses {} ({})", identity_.name,
              apiName(kind), bytes, tuning::toString(choice.algorithm), choice.why);
  }
  if (log::enabled(log::LogLevel::Trace, log::Subsystem::Coll)) {
    log::trace(identity_.logAs(log::Subsystem::Coll), "{}: start {} with {}", identity_.name, describe(pending),
               tuning::toString(choice.algorithm));
  }
  if (parts_.recorder) parts_.recorder->started(pending.sequence, tuning::toString(choice.algorithm));
  if (parts_.tracer) parts_.tracer->beginOperation(tuning::toString(choice.algorithm));
}

void OperationRunner::startInSharedMemory(const CollectiveCall& call) {
  runningIn_ = parts_.shm;
  parts_.shm->start(intrahost::ShmOperation{call.kind, current_->sequence, call.send, call.recv, call.count, call.type,
                                            call.op, [this](const Status& status) { finish(status); }, call.root});
}

void OperationRunner::startSchedule(const CollectiveCall& call, tuning::Algorithm algorithm) {
  runningIn_ = &parts_.schedule;
  // The call's fingerprint rides in every message tag, beside the sequence number, so ranks
  // in different calls fail on the first message instead of exchanging data (and the failure
  // path can name both calls: failure_accounts.cpp).
  // BANYAN_CHECK=0 sends 0 instead, which every peer then also expects.
  const std::uint64_t tag = (current_->sequence << 16) | (config_.checkCalls ? callFingerprint(call) : 0);
  const Status refused =
      parts_.schedule.start(call, algorithm, current_->sequence, tag, [this](const Status& status) { finish(status); });
  if (refused.isOk()) return;
  // Nothing was sent: every rank plans alike and refuses alike, so the streams to the peers
  // keep their place and the communicator stays usable. Only this operation fails.
  auto refusedOperation = std::move(current_);
  runningIn_ = nullptr;
  const Status failed = refused.withContext(describe(*refusedOperation));
  if (parts_.tracer) parts_.tracer->endOperation(refusedOperation->sequence, apiName(call.kind), 0, false);
  if (parts_.recorder) parts_.recorder->finished(refusedOperation->sequence, failed);
  unpackFused(*refusedOperation, failed);
  finishOperation(refusedOperation->state, failed);
}

void OperationRunner::finish(const Status& status) {
  auto finished = std::move(current_);
  runningIn_ = nullptr;
  const CollectiveCall& done = finished->call;
  if (parts_.tracer) {
    parts_.tracer->endOperation(finished->sequence, apiName(done.kind), done.count * dataTypeSize(done.type),
                                status.isOk());
  }
  unpackFused(*finished, status);
  if (status.isOk()) decodeCompressed(done, compressed_);
  if (status.isOk()) {
    if (parts_.recorder) parts_.recorder->finished(finished->sequence, status);
    finishOperation(finished->state, status);
    startNext();
    return;
  }
  // The streams to our peers lost their place: nothing more can run on them.
  Status failed = status.code() == ErrorCode::Timeout ? status : status.withContext(describe(*finished));
  // Say why before closing, so peers that see us go can tell (failure_accounts.hpp).
  if (status.code() != ErrorCode::Aborted) failed = parts_.failures.settle(failed, *finished);
  broken_ = failed;
  breakReported_ = true;
  parts_.schedule.shutdown(failed);
  if (parts_.recorder) {
    parts_.recorder->finished(finished->sequence, failed);
    parts_.recorder->dump(fmt::format("{}: {}", toString(failed.code()), failed.message()));
  }
  finishOperation(finished->state, failed);
  startNext();
}

// Each part of a fused group gets its result (before fusion_ serves the next operation) and its
// ending.
void OperationRunner::unpackFused(const Pending& finished, const Status& status) {
  if (!finished.fused) return;
  const std::size_t element = dataTypeSize(finished.call.type);
  std::size_t offset = 0;
  for (const auto& part : finished.fused->parts) {
    if (status.isOk() && part.count > 0) {
      std::memcpy(part.recv, fusion_.data() + offset * element, part.count * element);
    }
    offset += part.count;
    part.state->complete(status.isOk() ? status : status.withContext(describe(finished)));
  }
}

void OperationRunner::startTransfer(const PointToPointCall& r, std::uint64_t number,
                                    const std::shared_ptr<WorkState>& state) {
  std::string what = describeTransfer(r, number, identity_.rank, identity_.size);
  noticeBreak();
  if (!broken_.isOk()) {
    closeTransports(broken_);
    parts_.driver.operationEnded();
    state->complete(!breakReported_
                        ? broken_.withContext(what)
                        : Status::make(ErrorCode::Aborted, "{}: {} is unusable after an earlier failure: {}", what,
                                       identity_.name, broken_.message()));
    breakReported_ = true;
    return;
  }
  armWatchdog();
  const std::size_t bytes = r.count * dataTypeSize(r.type);
  if (parts_.recorder) parts_.recorder->transferStarted(number, r.isSend, r.peer, r.tag, bytes, r.type);
  const auto ended = [this, state, number, what](const Status& ending) {
    const Status status = ending.isOk() ? ending : parts_.failures.settleTransfer(ending, what);
    if (!status.isOk()) log::warn(identity_.logAs(log::Subsystem::Coll), "{}", status.message());
    recordTransfer(number, status);
    completeWork(state, status);
  };
  if (r.isSend) {
    parts_.p2p.send(r.peer, r.tag, r.send, bytes, state->deadline(), what, ended);
  } else {
    parts_.p2p.recv(r.peer, r.tag, r.recv, bytes, state->deadline(), what,
                    [state, ended](const Status& status, int source) {
                      state->setSource(source);
                      ended(status);
                    });
  }
}

// A send or receive ended: into the flight recorder, which a timeout makes write its dump (a
// failed send or receive leaves the communicator usable, so only timeouts, the stalls, dump).
void OperationRunner::recordTransfer(std::uint64_t number, const Status& status) {
  if (!parts_.recorder) return;
  parts_.recorder->transferFinished(number, status);
  if (status.code() == ErrorCode::Timeout) parts_.recorder->dump(fmt::format("Timeout: {}", status.message()));
}

// One timer serves every deadline. It ticks while operations run and fails the running one
// once its deadline (the call time plus BANYAN_TIMEOUT, as PyTorch counts it, so a queue behind
// a stuck operation fails together) has passed. Arming a timer per operation would cost two
// timerfd system calls per collective, a noticeable part of a small one.
void OperationRunner::armWatchdog() {
  if (watchdogArmed_) return;
  watchdogArmed_ = true;
  const auto tick = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(100), config_.timeout / 4);
  timer_.expires_after(tick);
  timer_.async_wait([this](const asio::error_code& ec) {
    watchdogArmed_ = false;
    if (ec) return;
    const auto now = std::chrono::steady_clock::now();
    if (current_ && now >= current_->state->deadline()) {
      failRunning(Status::make(ErrorCode::Timeout,
                               "{}: not done within the {} ms timeout (BANYAN_TIMEOUT); waiting for {}",
                               describe(*current_), config_.timeout.count(), describeRunning()));
    }
    if (parts_.recorder && current_) {
      parts_.recorder->stillRunning(current_->sequence, [this] { return describeRunning(); });
    }
    if (parts_.p2p.busy()) parts_.p2p.expire(now);
    if (current_ || !queue_.empty() || parts_.p2p.busy()) armWatchdog();
  });
}

void OperationRunner::failRunning(const Status& why) {
  if (runningIn_ != nullptr) runningIn_->fail(why);
}

std::string OperationRunner::describeRunning() const {
  return runningIn_ != nullptr ? runningIn_->describePending() : std::string("nothing");
}

void OperationRunner::finishOperation(const std::shared_ptr<WorkState>& state, const Status& status) {
  if (!status.isOk()) log::warn(identity_.logAs(log::Subsystem::Coll), "{}", status.message());
  completeWork(state, status);
  running_ = false;
}

void OperationRunner::completeWork(const std::shared_ptr<WorkState>& state, const Status& status) {
  parts_.driver.operationEnded();
  state->complete(status);
}

void OperationRunner::failEverything(const Status& why, bool tellPeers) {
  if (broken_.isOk()) broken_ = why;
  // Closing with work pending: peers waiting on that work will see us go, and should know why.
  const bool pending = current_ || !queue_.empty() || parts_.p2p.busy();
  if (pending) breakReported_ = true;
  if (tellPeers && pending && !parts_.failures.published()) parts_.failures.leaving(why);
  // Closing: the neighbours stop watching this rank (its exit is no loss), and a peer that still
  // waits on it hears that it closed (or why, above), not that it died.
  if (tellPeers) parts_.control.sayGoodbye();
  failRunning(why);
  for (auto& queued : queue_) {
    if (parts_.recorder) parts_.recorder->finished(queued.sequence, why);
    completeWork(queued.state, why);
  }
  queue_.clear();
  closeTransports(why);
  if (parts_.recorder && pending) parts_.recorder->dump(fmt::format("{}: {}", toString(why.code()), why.message()));
  timer_.cancel();
  graceTimer_.cancel();
}

}  // namespace banyan::detail
