// The progress side of a Communicator: who drives the event loop, how operations start and
// finish, and the watchdog that enforces deadlines. Everything here runs on the thread that
// holds driverMutex_ (the progress thread or a waiting caller), except tryDriveUntil, which is
// how a caller becomes that thread.

#include "runtime/communicator_impl.hpp"

#include "algorithms/alltoall.hpp"
#include "common/cpu_relax.hpp"
#include "common/log.hpp"
#include "reduce/reduce.hpp"

#include <sched.h>

#include <cstring>

namespace banyan::detail {

// Spin briefly, then block. After any activity the driver polls without sleeping for spin_,
// because the next message of a collective usually follows within microseconds and waking a
// thread blocked in epoll costs more than that on a VM. Past the window it blocks in epoll, so
// an idle rank (or one of many ranks sharing a core) leaves the CPU to others.
template <typename Done>
void CommunicatorImpl::drive(Done&& done, std::chrono::steady_clock::time_point until) {
  auto now = std::chrono::steady_clock::now();
  auto lastActivity = now;
  unsigned looks = 0;
  while (!done()) {
    // Reading the clock and asking epoll for events cost 0.1-0.5 us each on a VM, several
    // times a look at shared memory; while an operation runs in shared memory (its peers answer
    // there), they happen on every 16th look only (2 ranks, 8 B allreduce: 1.3 -> 0.6-0.8 us).
    const bool full = !runningInShm_ || (++looks & 15) == 0;
    if (full) {
      now = std::chrono::steady_clock::now();
      if (now >= until) return;
    }
    if (spin_.count() > 0 && now - lastActivity < spin_) {
      if (pollEngines() + (full ? io_.poll() : 0) > 0) {
        // Read afresh: the work just done (a reduction of a round) may have taken longer
        // than the whole spin window, which counts from its end.
        now = lastActivity = std::chrono::steady_clock::now();
      } else if (yieldWhileSpinning_) {
        sched_yield();  // more ranks than cores: let a peer run, then look again
      } else {
        cpuRelax();
      }
      continue;
    }
    if (pollEngines() > 0) {
      lastActivity = std::chrono::steady_clock::now();
      continue;
    }
    if (!prepareToSleep()) continue;  // shared memory has work after all
    // Bounded, so `done` and `until` are looked at again even if nothing happens (and a lost
    // wake-up could cost at most this long).
    const std::size_t ran = io_.run_one_until(std::min(until, now + std::chrono::milliseconds(100)));
    awake();
    if (ran > 0) lastActivity = std::chrono::steady_clock::now();
  }
}

// The point-to-point channel needs looking at only once this rank has used it (before that,
// messages sent to it wait in the channel).
std::size_t CommunicatorImpl::pollEngines() {
  return transport_->poll() + (shmCollectives_ ? shmCollectives_->poll() : 0) +
         (p2p_->listening() ? p2pTransport_->poll() : 0);
}

bool CommunicatorImpl::prepareToSleep() {
  if (!transport_->prepareToSleep()) return false;
  if (shmCollectives_ && !shmCollectives_->prepareToSleep()) {
    transport_->awake();
    return false;
  }
  if (p2p_->listening() && !p2pTransport_->prepareToSleep()) {
    transport_->awake();
    if (shmCollectives_) shmCollectives_->awake();
    return false;
  }
  return true;
}

void CommunicatorImpl::awake() {
  transport_->awake();
  if (shmCollectives_) shmCollectives_->awake();
  if (p2p_->listening()) p2pTransport_->awake();
}

void CommunicatorImpl::failRunning(const Status& status) {
  if (runningInShm_) {
    shmCollectives_->fail(status);
  } else {
    executor_->fail(status);
  }
}

std::string CommunicatorImpl::describeRunning() const {
  return runningInShm_ ? shmCollectives_->describePending() : executor_->describePending();
}

// A waiting caller drives when nobody does. When the progress thread drives (an asynchronous
// call woke it), the caller asks it to step aside and takes over: otherwise the caller would
// poll its Work while the progress thread does the work, and each message would cost a hand-off
// between the two threads (2 ranks, 8 B sendrecv issued as a group and waited for: hand-offs
// ~8 us against ~4 us driven by the caller; with more ranks than cores, far worse). When another
// caller drives, it progresses this caller's operation too, and this one waits on its Work.
bool CommunicatorImpl::tryDriveUntil(const WorkState& state, std::chrono::steady_clock::time_point until) {
  std::unique_lock driver(driverMutex_, std::try_to_lock);
  bool asked = false;
  // Withdraws the request; the progress thread, which may have stepped aside for it, is woken
  // to drive again if work is left.
  const auto withdraw = [&] {
    if (!asked) return;
    stepAsideRequests_.fetch_sub(1, std::memory_order_acq_rel);
    if (outstanding_ > 0 && !driver.owns_lock()) {
      std::lock_guard wake(wakeMutex_);
      wake_.notify_one();
    }
  };
  while (!driver.owns_lock()) {
    // The progress thread may have stepped aside between our last try and this look.
    if (!progressDriving_.load(std::memory_order_acquire) && driver.try_lock()) break;
    if (state.done() || !progressDriving_.load(std::memory_order_acquire) ||
        std::chrono::steady_clock::now() >= until) {
      withdraw();
      return state.done();
    }
    if (!asked) {
      asked = true;
      stepAsideRequests_.fetch_add(1, std::memory_order_acq_rel);
      asio::post(io_, [] {});  // ends a sleep in epoll, so it sees the request at once
    }
    sched_yield();
    driver.try_lock();
  }
  withdraw();  // holding the driver lock: the progress thread waits for us anyway
  drive([&] { return state.done(); }, until);
  driver.unlock();
  // Operations still outstanding (queued by other threads) need a driver now that we stop.
  if (outstanding_ > 0) {
    std::lock_guard wake(wakeMutex_);
    wake_.notify_one();
  }
  return true;
}

// The progress thread sleeps until operations are outstanding, then drives until none are, or
// until a waiting caller asks to drive (tryDriveUntil).
void CommunicatorImpl::progressLoop() {
  for (;;) {
    {
      std::unique_lock wake(wakeMutex_);
      wake_.wait(wake, [this] {
        return closing_ || (outstanding_ > 0 && stepAsideRequests_.load(std::memory_order_acquire) == 0);
      });
      if (closing_) return;
    }
    std::lock_guard driver(driverMutex_);
    progressDriving_.store(true, std::memory_order_release);
    drive([this] { return outstanding_ == 0 || stepAsideRequests_.load(std::memory_order_acquire) > 0; },
          std::chrono::steady_clock::time_point::max());
    progressDriving_.store(false, std::memory_order_release);
  }
}

void CommunicatorImpl::startNext() {
  if (starting_) return;  // an operation finishing inside start() comes back to this loop
  starting_ = true;
  while (!running_ && !queue_.empty()) {
    running_ = true;
    Pending pending = std::move(queue_.front());
    queue_.pop_front();
    if (!broken_.isOk()) {
      const Status refused = Status::make(ErrorCode::Aborted, "{}: {} is unusable after an earlier failure: {}",
                                          describe(pending), name_, broken_.message());
      if (recorder_) recorder_->finished(pending.sequence, refused);
      finishOperation(pending.state, refused);
      continue;
    }
    startOperation(std::move(pending));
  }
  starting_ = false;
}

void CommunicatorImpl::startPointToPoint(const PointToPointRequest& r, std::uint64_t number,
                                         const std::shared_ptr<WorkState>& state) {
  std::string what = describe(r, number);
  if (!broken_.isOk()) {
    --outstanding_;
    state->complete(Status::make(ErrorCode::Aborted, "{}: {} is unusable after an earlier failure: {}", what, name_,
                                 broken_.message()));
    return;
  }
  armWatchdog();
  const std::size_t bytes = r.count * dataTypeSize(r.type);
  if (recorder_) recorder_->transferStarted(number, r.isSend, r.peer, r.tag, bytes, r.type);
  if (r.isSend) {
    p2p_->send(r.peer, r.tag, r.send, bytes, state->deadline(), std::move(what),
               [this, state, number](const Status& status) {
                 if (!status.isOk()) log::warn(logAs(log::Subsystem::Coll), "{}", status.message());
                 recordTransfer(number, status);
                 completeWork(state, status);
               });
  } else {
    p2p_->recv(r.peer, r.tag, r.recv, bytes, state->deadline(), std::move(what),
               [this, state, number](const Status& status, int source) {
                 if (!status.isOk()) log::warn(logAs(log::Subsystem::Coll), "{}", status.message());
                 recordTransfer(number, status);
                 state->setSource(source);
                 completeWork(state, status);
               });
  }
}

// A send or receive ended: into the flight recorder, which a timeout makes write its dump (a
// failed send or receive leaves the communicator usable, so only timeouts, the stalls, dump).
void CommunicatorImpl::recordTransfer(std::uint64_t number, const Status& status) {
  if (!recorder_) return;
  recorder_->transferFinished(number, status);
  if (status.code() == ErrorCode::Timeout) recorder_->dump(fmt::format("Timeout: {}", status.message()));
}

void CommunicatorImpl::startOperation(Pending pending) {
  current_ = std::make_unique<Pending>(std::move(pending));
  Request& r = current_->request;  // not `pending`'s: it has been moved from
  const std::size_t element = dataTypeSize(r.type);
  const std::size_t bytes = r.count * element;  // per rank, as Request::count
  armWatchdog();
  if (r.fused) {
    // A group's small allreduces, packed one after another and reduced in place together.
    fusion_.reserve(r.count * element);
    std::size_t offset = 0;
    for (const auto& part : r.fused->parts) {
      if (part.count > 0) std::memcpy(fusion_.data() + offset * element, part.send, part.count * element);
      offset += part.count;
    }
    r.send = r.recv = fusion_.data();
  }
  if (r.premulFactor) {
    // Scale this rank's input aside, then sum as usual: the caller's buffers are untouched
    // until the result lands, whether the call is in place or not.
    const std::size_t elements = r.kind == Collective::ReduceScatter ? r.count * static_cast<std::size_t>(size_)
                                                                      : r.count;
    premultiplied_.reserve(elements * element);
    reduce::scale(r.type, premultiplied_.data(), r.send, elements, *r.premulFactor);
    r.send = premultiplied_.data();
  }

  auto onDone = [this](const Status& status) {
    auto finished = std::move(current_);
    runningInShm_ = false;
    if (tracer_) {
      const Request& done = finished->request;
      tracer_->endOperation(finished->sequence, name(done.kind), done.count * dataTypeSize(done.type), status.isOk());
    }
    if (const auto& fused = finished->request.fused) {
      // Each part gets its result (before fusion_ serves the next operation) and its ending.
      const std::size_t element = dataTypeSize(finished->request.type);
      std::size_t offset = 0;
      for (const auto& part : fused->parts) {
        if (status.isOk() && part.count > 0) {
          std::memcpy(part.recv, fusion_.data() + offset * element, part.count * element);
        }
        offset += part.count;
        part.state->complete(status.isOk() ? status : status.withContext(describe(*finished)));
      }
    }
    if (!status.isOk()) {
      // The streams to our peers lost their place: nothing more can run on them.
      Status failed = status.code() == ErrorCode::Timeout ? status : status.withContext(describe(*finished));
      if (status.code() != ErrorCode::Aborted) {
        // Say why before closing, so peers that see us go can tell (communicator_failures.cpp):
        // first what we know now (our engines may already look closed to peers, and finding
        // out more can take a store wait), then the fuller account.
        // (A mismatch publishes its own first account at once: explainMismatch.)
        if (status.mismatchPeer() >= 0) {
          failed = explainMismatch(failed, *finished);
        } else {
          publishFailure(failed, false);
          failed = explainLoss(failed, *finished);
        }
        publishFailure(failed, true);
      }
      broken_ = failed;
      transport_->shutdown(failed);
      if (recorder_) {
        recorder_->finished(finished->sequence, failed);
        recorder_->dump(fmt::format("{}: {}", toString(failed.code()), failed.message()));
      }
      finishOperation(finished->state, failed);
    } else {
      if (recorder_) recorder_->finished(finished->sequence, status);
      finishOperation(finished->state, status);
    }
    startNext();
  };

  // The selector decides between the shared-memory engine and the schedules (a forced band
  // wins over the engine: tuning/selector.hpp); the choice is logged once per kind and algorithm.
  const tuning::Choice choice = selector_->choose(r.kind, bytes);
  const tuning::Algorithm algorithm = choice.algorithm;
  if (log::enabled(log::LogLevel::Info, log::Subsystem::Tuning) && announced_.insert({r.kind, algorithm}).second) {
    log::info(logAs(log::Subsystem::Tuning), "{}: {} of {} B per rank uses {} ({})", name_, name(r.kind), bytes,
              tuning::toString(algorithm), choice.why);
  }
  if (algorithm == tuning::Algorithm::SharedMemory) {
    if (log::enabled(log::LogLevel::Trace, log::Subsystem::Coll)) {
      log::trace(logAs(log::Subsystem::Coll), "{}: start {} in shared memory", name_, describe(*current_));
    }
    runningInShm_ = true;
    if (recorder_) recorder_->started(current_->sequence, "shm");
    if (tracer_) tracer_->beginOperation("shm");
    shmCollectives_->start(intrahost::ShmOperation{r.kind, current_->sequence, r.send, r.recv, r.count, r.type, r.op,
                                                   std::move(onDone)});
    return;
  }

  std::shared_ptr<const runtime::Plan> plan =
      r.kind == Collective::Alltoallv
          // Its tables change from call to call, so it is planned per call, not cached.
          ? runtime::makePlan(algorithms::pairwiseAlltoallv(rank_, size_, r.blocks->sendCounts, r.blocks->sendOffsets,
                                                            r.blocks->recvCounts, r.blocks->recvOffsets))
          : plans_.get(r.kind, algorithm, rank_, size_, r.root, r.count, sliceElements(r, element));
  scratch_.reserve(plan->schedule.scratchCount * element);
  if (log::enabled(log::LogLevel::Trace, log::Subsystem::Coll)) {
    log::trace(logAs(log::Subsystem::Coll), "{}: start {} with {}", name_, describe(*current_),
               tuning::toString(algorithm));
  }
  if (recorder_) recorder_->started(current_->sequence, tuning::toString(algorithm));
  if (tracer_) tracer_->beginOperation(tuning::toString(algorithm));

  runtime::Operation operation;
  // The call's fingerprint rides in every message tag, beside the sequence number, so ranks
  // in different calls fail on the first message instead of exchanging data (and the failure
  // path can name both calls: communicator_failures.cpp).
  // BANYAN_CHECK=0 sends 0 instead, which every peer then also expects.
  operation.tag = (current_->sequence << 16) | (config_.checkCalls ? fingerprint(r) : 0);
  operation.sequence = current_->sequence;
  operation.plan = std::move(plan);
  operation.input = static_cast<const std::byte*>(r.send);
  operation.output = static_cast<std::byte*>(r.recv);
  operation.scratch = scratch_.data();
  operation.elementSize = element;
  operation.type = r.type;
  operation.op = r.op;
  operation.nranks = size_;
  operation.onDone = std::move(onDone);
  executor_->start(std::move(operation));
}

// One timer serves every deadline. It ticks while operations run and fails the running one
// once its deadline (the call time plus BANYAN_TIMEOUT, as PyTorch counts it, so a queue behind
// a stuck operation fails together) has passed. Arming a timer per operation would cost two
// timerfd system calls per collective, a noticeable part of a small one.
void CommunicatorImpl::armWatchdog() {
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
    if (recorder_ && current_) recorder_->stillRunning(current_->sequence, [this] { return describeRunning(); });
    if (p2p_->busy()) p2p_->expire(now);
    if (current_ || !queue_.empty() || p2p_->busy()) armWatchdog();
  });
}

void CommunicatorImpl::finishOperation(const std::shared_ptr<WorkState>& state, const Status& status) {
  if (!status.isOk()) log::warn(logAs(log::Subsystem::Coll), "{}", status.message());
  completeWork(state, status);
  running_ = false;
}

void CommunicatorImpl::completeWork(const std::shared_ptr<WorkState>& state, const Status& status) {
  --outstanding_;
  state->complete(status);
}

void CommunicatorImpl::failEverything(const Status& why) {
  if (broken_.isOk()) broken_ = why;
  // Closing with work pending: peers waiting on that work will see us go, and should know why.
  if ((current_ || !queue_.empty()) && !failurePublished_) publishFailure(why, true);
  const bool pending = current_ || !queue_.empty() || p2p_->busy();
  failRunning(why);
  for (auto& queued : queue_) {
    if (recorder_) recorder_->finished(queued.sequence, why);
    completeWork(queued.state, why);
  }
  queue_.clear();
  transport_->shutdown(why);
  p2p_->fail(why);
  if (recorder_ && pending) recorder_->dump(fmt::format("{}: {}", toString(why.code()), why.message()));
  timer_.cancel();
}

// A pipeline needs a few slices per chunk to overlap anything, and each slice costs a message:
// aim for kSlicesPerChunk slices, never below kMinSliceBytes, never above BANYAN_SLICE_BYTES.
// (Swept on 2 ranks over loopback: 1 MiB allreduce is fastest with 128 KiB slices, 64 MiB with
// 1 MiB slices.)
std::size_t CommunicatorImpl::sliceElements(const Request& r, std::size_t elementSize) const {
  // A two-rank broadcast is one message: slices would pipeline nothing (no rank forwards) and
  // only add messages (2 ranks over shm, 16 MiB: 7.8-8.0 ms in 1 MiB slices, 4.5-4.9 ms whole).
  if (r.kind == Collective::Broadcast && size_ == 2) return std::max<std::size_t>(1, r.count);
  constexpr std::size_t kSlicesPerChunk = 4;
  constexpr std::size_t kMinSliceBytes = 64 * 1024;
  const std::size_t chunkBytes =
      r.count * elementSize / (r.kind == Collective::Allreduce ? static_cast<std::size_t>(size_) : 1);
  const std::size_t sliceBytes = std::min(config_.sliceBytes, std::max(kMinSliceBytes, chunkBytes / kSlicesPerChunk));
  return std::max<std::size_t>(1, sliceBytes / elementSize);
}

}  // namespace banyan::detail
