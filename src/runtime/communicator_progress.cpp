// The progress side of a Communicator: who drives the event loop, how operations start and
// finish, and the watchdog that enforces deadlines. Everything here runs on the thread that
// holds driverMutex_ (the progress thread or a waiting caller), except tryDriveUntil, which is
// how a caller becomes that thread.

#include "runtime/communicator_impl.hpp"

#include "algorithms/alltoall.hpp"
#include "common/cpu_relax.hpp"
#include "common/log.hpp"

#include <sched.h>

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

std::size_t CommunicatorImpl::pollEngines() {
  return transport_->poll() + (shmCollectives_ ? shmCollectives_->poll() : 0);
}

bool CommunicatorImpl::prepareToSleep() {
  if (!transport_->prepareToSleep()) return false;
  if (shmCollectives_ && !shmCollectives_->prepareToSleep()) {
    transport_->awake();
    return false;
  }
  return true;
}

void CommunicatorImpl::awake() {
  transport_->awake();
  if (shmCollectives_) shmCollectives_->awake();
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

bool CommunicatorImpl::tryDriveUntil(const WorkState& state, std::chrono::steady_clock::time_point until) {
  std::unique_lock driver(driverMutex_, std::try_to_lock);
  if (!driver.owns_lock()) return false;
  drive([&] { return state.done(); }, until);
  driver.unlock();
  // Operations still outstanding (queued by other threads) need a driver now that we stop.
  if (outstanding_ > 0) {
    std::lock_guard wake(wakeMutex_);
    wake_.notify_one();
  }
  return true;
}

// The progress thread sleeps until operations are outstanding, then drives until none are.
void CommunicatorImpl::progressLoop() {
  for (;;) {
    {
      std::unique_lock wake(wakeMutex_);
      wake_.wait(wake, [this] { return closing_ || outstanding_ > 0; });
      if (closing_) return;
    }
    std::lock_guard driver(driverMutex_);
    drive([this] { return outstanding_ == 0; }, std::chrono::steady_clock::time_point::max());
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
      finishOperation(pending.state, Status::make(ErrorCode::Aborted, "{}: {} is unusable after an earlier failure: {}",
                                                  describe(pending), name_, broken_.message()));
      continue;
    }
    startOperation(std::move(pending));
  }
  starting_ = false;
}

void CommunicatorImpl::startOperation(Pending pending) {
  current_ = std::make_unique<Pending>(std::move(pending));
  const Request& r = current_->request;  // not `pending`'s: it has been moved from
  const std::size_t element = dataTypeSize(r.type);
  const std::size_t bytes = r.count * element;  // per rank, as Request::count
  armWatchdog();

  auto onDone = [this](const Status& status) {
    auto finished = std::move(current_);
    runningInShm_ = false;
    if (!status.isOk()) {
      // The streams to our peers lost their place: nothing more can run on them.
      const Status failed = status.code() == ErrorCode::Timeout ? status : status.withContext(describe(*finished));
      broken_ = failed;
      transport_->shutdown(failed);
      finishOperation(finished->state, failed);
    } else {
      finishOperation(finished->state, status);
    }
    startNext();
  };

  // handles() is the one place that says which calls the shared-memory engine runs
  // (allreduce, allgather); everything else runs as a schedule.
  if (shmCollectives_ && shmCollectives_->handles(r.kind, bytes)) {
    if (log::enabled(config::LogLevel::Trace)) {
      log::trace(rank_, "{}: start {} in shared memory", name_, describe(*current_));
    }
    runningInShm_ = true;
    shmCollectives_->start(intrahost::ShmOperation{r.kind, current_->sequence, r.send, r.recv, r.count, r.type, r.op,
                                                   std::move(onDone)});
    return;
  }

  const tuning::Choice choice = selector_->choose(r.kind, bytes);
  const tuning::Algorithm algorithm = choice.algorithm;
  std::shared_ptr<const runtime::Plan> plan =
      r.kind == Collective::Alltoallv
          // Its tables change from call to call, so it is planned per call, not cached.
          ? runtime::makePlan(algorithms::pairwiseAlltoallv(rank_, size_, r.blocks->sendCounts, r.blocks->sendOffsets,
                                                            r.blocks->recvCounts, r.blocks->recvOffsets))
          : plans_.get(r.kind, algorithm, rank_, size_, r.root, r.count, sliceElements(r, element));
  scratch_.reserve(plan->schedule.scratchCount * element);
  if (log::enabled(config::LogLevel::Trace)) {
    log::trace(rank_, "{}: start {} with {}", name_, describe(*current_), tuning::toString(algorithm));
  }
  // Say once per communicator which algorithm each kind of call gets, and why.
  if (log::enabled(config::LogLevel::Info) && announced_.insert({r.kind, algorithm}).second) {
    log::info(rank_, "{}: {} of {} B per rank uses {} ({})", name_, name(r.kind), bytes, tuning::toString(algorithm),
              choice.why);
  }

  runtime::Operation operation;
  operation.tag = current_->sequence;
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
    if (current_ && std::chrono::steady_clock::now() >= current_->state->deadline()) {
      failRunning(Status::make(ErrorCode::Timeout,
                                   "{}: not done within the {} ms timeout (BANYAN_TIMEOUT); waiting for {}",
                                   describe(*current_), config_.timeout.count(), describeRunning()));
    }
    if (current_ || !queue_.empty()) armWatchdog();
  });
}

void CommunicatorImpl::finishOperation(const std::shared_ptr<WorkState>& state, const Status& status) {
  if (!status.isOk()) log::warn(rank_, "{}", status.message());
  completeWork(state, status);
  running_ = false;
}

void CommunicatorImpl::completeWork(const std::shared_ptr<WorkState>& state, const Status& status) {
  --outstanding_;
  state->complete(status);
}

void CommunicatorImpl::failEverything(const Status& why) {
  if (broken_.isOk()) broken_ = why;
  failRunning(why);
  for (auto& pending : queue_) completeWork(pending.state, why);
  queue_.clear();
  transport_->shutdown(why);
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
