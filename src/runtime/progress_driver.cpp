// The driver: who runs the event loop (progress_driver.hpp). Everything here runs on the thread
// that holds driverMutex_ (the progress thread or a waiting caller), except tryDriveUntil, which
// is how a caller becomes that thread.

#include "runtime/progress_driver.hpp"

#include "common/cpu_relax.hpp"
#include "common/status.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>

namespace banyan::detail {

namespace {

// The progress thread's scheduling class, its own only (the program's threads are never
// touched). Asleep it is SCHED_BATCH: the wake-up an asynchronous call sends it then does not
// preempt the caller, which most often waits for its Work at once and drives it itself; woken
// as SCHED_OTHER, it took the caller's core at once and had to be asked to step aside (2 ranks,
// 8 B sendrecv as a group: 17-20 us -> 7.5-8 us). It is SCHED_OTHER again while it drives, so a
// message that wakes it from the event loop preempts as before. Best effort: where the policy
// cannot change (a sandbox refusing it), nothing but the speed differs.
void setOwnPolicy(int policy) {
  sched_param none{};
  [[maybe_unused]] const int refused = pthread_setschedparam(pthread_self(), policy, &none);
}

}  // namespace

ProgressDriver::ProgressDriver(std::chrono::microseconds spin, bool yieldWhileSpinning)
    : work_(asio::make_work_guard(io_)), spin_(spin), yieldWhileSpinning_(yieldWhileSpinning) {}

ProgressDriver::~ProgressDriver() { stop(); }

std::shared_ptr<MemberSwitch> ProgressDriver::join() {
  std::lock_guard wake(wakeMutex_);
  // A family whose last member closed has stopped for good; CommunicatorImpl::family() refuses
  // a closed communicator before this can happen.
  if (closing_) fail(ErrorCode::InvalidUsage, "the communicator family has closed: no member can join it");
  ++members_;
  return std::make_shared<MemberSwitch>();
}

bool ProgressDriver::leave() {
  std::lock_guard wake(wakeMutex_);
  return --members_ == 0;
}

void ProgressDriver::removeEngine(const Engine& engine) {
  engines_.erase(std::remove(engines_.begin(), engines_.end(), &engine), engines_.end());
}

void ProgressDriver::start() {
  if (progress_.joinable()) return;
  progress_ = std::thread([this] { progressLoop(); });
}

std::unique_lock<std::mutex> ProgressDriver::takeOver() {
  std::unique_lock driving(driverMutex_, std::try_to_lock);
  if (driving.owns_lock()) return driving;
  // Whoever drives (the progress thread, or a caller waiting for its own operation) looks at
  // the requests between rounds and lets go.
  takeOverRequests_.fetch_add(1, std::memory_order_acq_rel);
  asio::post(io_, [] {});  // ends a sleep in epoll, so it sees the request at once
  driving.lock();
  takeOverRequests_.fetch_sub(1, std::memory_order_acq_rel);
  return driving;
}

void ProgressDriver::handBack(std::unique_lock<std::mutex> driving) {
  driving.unlock();
  if (outstanding_ > 0) wakeProgressThread();
}

void ProgressDriver::stop() {
  if (!progress_.joinable()) return;
  {
    std::lock_guard wake(wakeMutex_);
    closing_ = true;
  }
  wake_.notify_all();
  progress_.join();
}

std::shared_ptr<WorkState> ProgressDriver::newState(std::chrono::steady_clock::time_point deadline) {
  return std::make_shared<WorkState>(deadline, spin_, this);
}

void ProgressDriver::wakeProgressThread() {
  std::lock_guard wake(wakeMutex_);
  wake_.notify_one();
}

// Spin briefly, then block. After any activity the driver polls without sleeping for spin_,
// because the next message of a collective usually follows within microseconds and waking a
// thread blocked in epoll costs more than that on a VM. Past the window it blocks in epoll, so
// an idle rank (or one of many ranks sharing a core) leaves the CPU to others.
template <typename Done>
void ProgressDriver::drive(Done&& done, std::chrono::steady_clock::time_point until) {
  auto now = std::chrono::steady_clock::now();
  auto lastActivity = now;
  unsigned looks = 0;
  while (!done()) {
    // Reading the clock and asking epoll for events cost 0.1-0.5 us each on a VM, several
    // times a look at shared memory; while an engine's peers answer in memory (an operation
    // runs in shared memory), they happen on every 16th look only (2 ranks, 8 B allreduce:
    // 1.3 -> 0.6-0.8 us).
    const bool full = (++looks & 15) == 0 || !answersInMemory();
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

std::size_t ProgressDriver::pollEngines() {
  std::size_t done = 0;
  for (Engine* engine : engines_) done += engine->poll();
  return done;
}

bool ProgressDriver::answersInMemory() const {
  for (const Engine* engine : engines_) {
    if (engine->answersInMemory()) return true;
  }
  return false;
}

bool ProgressDriver::prepareToSleep() {
  for (std::size_t i = 0; i < engines_.size(); ++i) {
    if (!engines_[i]->prepareToSleep()) {
      for (std::size_t j = 0; j < i; ++j) engines_[j]->awake();
      return false;
    }
  }
  return true;
}

void ProgressDriver::awake() {
  for (Engine* engine : engines_) engine->awake();
}

// A waiting caller drives when nobody does. When the progress thread drives (an asynchronous
// call woke it), the caller asks it to step aside and takes over: otherwise the caller would
// poll its Work while the progress thread does the work, and each message would cost a hand-off
// between the two threads (2 ranks, 8 B sendrecv issued as a group and waited for: hand-offs
// ~8 us against ~4 us driven by the caller; with more ranks than cores, far worse). When another
// caller drives, it progresses this caller's operation too, and this one waits on its Work.
bool ProgressDriver::tryDriveUntil(const WorkState& state, std::chrono::steady_clock::time_point until) {
  // Counted from here until this caller stops driving (or gives up): the progress thread steps
  // aside for it and does not wake to wait for the lock meanwhile (a futex hand-off each time).
  stepAsideRequests_.fetch_add(1, std::memory_order_acq_rel);
  std::unique_lock driver(driverMutex_, std::try_to_lock);
  // Withdraws the count; the progress thread is woken to drive if work is left.
  const auto withdraw = [&] {
    stepAsideRequests_.fetch_sub(1, std::memory_order_acq_rel);
    if (outstanding_ > 0) {
      std::lock_guard wake(wakeMutex_);
      wake_.notify_one();
    }
  };
  bool posted = false;
  while (!driver.owns_lock()) {
    // The progress thread may have stepped aside between our last try and this look.
    if (!progressDriving_.load(std::memory_order_acquire) && driver.try_lock()) break;
    if (state.done() || !progressDriving_.load(std::memory_order_acquire) ||
        std::chrono::steady_clock::now() >= until) {
      withdraw();
      return state.done();
    }
    if (!posted) {
      posted = true;
      asio::post(io_, [] {});  // ends a sleep in epoll, so it sees the request at once
    }
    sched_yield();
    driver.try_lock();
  }
  // A member of the family being created or closed (takeOver) goes first; this caller then
  // waits for its Work like any other, driven by the progress thread.
  drive([&] { return state.done() || takeOverRequests_.load(std::memory_order_acquire) > 0; }, until);
  driver.unlock();
  const bool drove = state.done() || std::chrono::steady_clock::now() >= until;
  // Operations still outstanding (queued by other threads) need a driver now that we stop.
  withdraw();
  return drove;
}

// The progress thread sleeps until operations are outstanding, then drives until none are, or
// until a waiting caller asks to drive (tryDriveUntil).
void ProgressDriver::progressLoop() {
  setOwnPolicy(SCHED_BATCH);
  for (;;) {
    {
      std::unique_lock wake(wakeMutex_);
      wake_.wait(wake, [this] {
        return closing_ || (outstanding_ > 0 && stepAsideRequests_.load(std::memory_order_acquire) == 0);
      });
      if (closing_) return;
    }
    std::unique_lock driver(driverMutex_, std::try_to_lock);
    if (!driver.owns_lock()) {
      // A caller that drives wakes us when it stops with work left: sleep till then rather
      // than queue on the lock (a futex hand-off each time). Anyone else (a blocking call
      // starting its operation, a takeOver) holds it briefly or hands it back: wait for it.
      if (stepAsideRequests_.load(std::memory_order_acquire) > 0) continue;
      driver.lock();
    }
    setOwnPolicy(SCHED_OTHER);
    progressDriving_.store(true, std::memory_order_release);
    drive(
        [this] {
          return outstanding_ == 0 || stepAsideRequests_.load(std::memory_order_acquire) > 0 ||
                 takeOverRequests_.load(std::memory_order_acquire) > 0;
        },
        std::chrono::steady_clock::time_point::max());
    progressDriving_.store(false, std::memory_order_release);
    setOwnPolicy(SCHED_BATCH);
  }
}

}  // namespace banyan::detail
