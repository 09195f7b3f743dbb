#pragma once
// One fault trial, shared by the fault-injection test (tests/multiproc/test_fault_injection.cpp)
// and the fault-trial measurement (tools/banyan_fault_trials.cpp, bench/faults.sh), so that
// what the bench counts is exactly what the test asserts.
//
// R ranks loop over mixed collectives; one of them (the victim) is SIGKILLed or SIGSTOPped by a
// thread of its own at a planned moment after the loop's start barrier, so the fault lands
// anywhere: between calls, mid-transfer, inside a reduction. Every survivor must end with:
//   after a kill: a Remote error that names the victim as the rank lost (first-hand, or
//                 through the notice of whoever saw it first: resilience/control_plane.hpp);
//   after a stop: a Remote error naming the victim as lost, "stopped responding" (the control
//                 channel's heartbeats, whose window is shorter than the timeout here), or a
//                 Timeout where a survivor's own deadline came first.
// No Catch2 here: the tool includes this too.

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>

#include "bootstrap/local_launcher.hpp"

#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace banyan::test::faults {

using Clock = std::chrono::steady_clock;

struct Plan {
  int ranks = 4;
  int victim = 0;
  std::chrono::microseconds delay{0};  // from the loop's start barrier to the fault
  bool stop = false;                   // SIGSTOP instead of SIGKILL
  // BANYAN_TIMEOUT: short for stops (the survivors' errors are these timeouts), long for kills
  // (a kill must be reported from the broken connection, long before any timeout).
  std::chrono::milliseconds timeout{30000};
  // BANYAN_HEARTBEAT_MS: with the default 5 misses a stopped rank is declared lost after 1 s.
  std::chrono::milliseconds heartbeat{200};
  // A survivor still looping this long after the start gives up and reports no error.
  std::chrono::seconds loopFor{40};
};

// The victim and the moment drawn from `random`, uniformly: any rank, 0-300 ms into the loop.
inline void drawVictim(Plan& plan, std::mt19937& random) {
  plan.victim = static_cast<int>(random() % static_cast<unsigned>(plan.ranks));
  plan.delay = std::chrono::microseconds(random() % 300000);
}

// How errors name the victim, whatever the transport: as the rank lost, not as a bystander
// whose connection closed.
inline std::string victimNamed(const std::string& /*transport*/, int victim) {
  return fmt::format("rank {} was lost", victim);
}

// The trial's environment on top of the transport's (`options`, e.g. test::over(transport)).
inline bootstrap::LaunchOptions launchOptions(const Plan& plan, bootstrap::LaunchOptions options) {
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_TIMEOUT"] = fmt::format("{}ms", plan.timeout.count());
  options.environment["BANYAN_HEARTBEAT_MS"] = fmt::format("{}", plan.heartbeat.count());
  // Past the loop's own limit and the stopped victim's end (stopWait below).
  options.deadline = plan.loopFor + std::chrono::seconds(20);
  return options;
}

// After a stop, how long from the fault until the stopped rank is killed: every survivor has had
// its own deadline by then (all fall within one timeout of the stop, plus the one in which a
// neighbour's account travels), or they would see a death instead of a timeout.
inline std::chrono::milliseconds stopWait(const Plan& plan) { return 2 * plan.timeout + std::chrono::seconds(1); }

// One round of mixed collectives, small and large.
struct Buffers {
  explicit Buffers(int ranks)
      : big(1 << 18, 1.0f), small(4096, 1.0f), gathered(small.size() * static_cast<std::size_t>(ranks), 1.0f) {}
  std::vector<float> big, small, gathered;
};

inline void round(Communicator& comm, Buffers& b) {
  const int n = comm.size();
  comm.allreduce(b.small.data(), b.small.size(), DataType::f32, ReduceOp::sum);
  comm.allreduce(b.big.data(), b.big.size(), DataType::f32, ReduceOp::max);
  comm.allgather(b.small.data(), b.gathered.data(), b.small.size(), DataType::f32);
  comm.broadcast(b.big.data(), b.big.size() / 4, DataType::f32, 1 % n);
  comm.reduceScatter(b.gathered.data(), b.small.data(), b.small.size(), DataType::f32, ReduceOp::sum);
  comm.alltoall(b.gathered.data(), b.big.data(), b.small.size() / static_cast<std::size_t>(n), DataType::f32);
  comm.barrier();
}

// What one survivor saw.
struct Outcome {
  // The job could not start (joining, the pid exchange, the start barrier failed; `text` says
  // why): there was no fault yet, so there is nothing to judge. Seen under heavy load with a
  // stop trial's 2 s BANYAN_TIMEOUT.
  bool setupFailed = false;
  bool errored = false;  // false: still looping at plan.loopFor, no error
  ErrorCode code = ErrorCode::Internal;
  std::string text;
  Clock::duration detected{};  // from the fault to the error
  bool right = false;          // the error the fault calls for (header comment)
  bool namesVictim = false;    // and it names the victim
};

// The hooks let the measurement take the fault's moment from the victim itself (the planned
// moment is when its thread wakes; the signal lands a little later).
struct Hooks {
  std::function<void()> atFault;                                            // in the victim, just before the signal
  std::function<Clock::time_point(Clock::time_point planned)> faultMoment;  // in a survivor, after its error
};

// The body of rank `rank` (run under bootstrap::launchLocal). The victim never returns; a
// survivor returns what it saw. After a stop the lowest survivor ends the stopped victim
// (SIGKILL) once every survivor has had time for its own timeout.
inline Outcome runRank(const Plan& plan, const std::string& named, const Hooks& hooks = {}) {
  std::optional<Communicator> made;
  std::vector<std::int64_t> pids(static_cast<std::size_t>(plan.ranks));
  try {
    made.emplace(Communicator::fromEnvironment());
    const std::int64_t mine = getpid();
    made->allgather(&mine, pids.data(), 1, DataType::i64);
    made->barrier();
  } catch (const Error& e) {
    Outcome failed;
    failed.setupFailed = true;
    failed.text = e.what();
    return failed;
  }
  Communicator& comm = *made;
  const int rank = comm.rank();
  Buffers buffers(comm.size());
  const auto start = Clock::now();
  const auto planned = start + plan.delay;
  if (rank == plan.victim) {
    // By value: should this rank fail before its fault, the thread outlives this frame.
    std::thread([signal = plan.stop ? SIGSTOP : SIGKILL, atFault = hooks.atFault, planned] {
      std::this_thread::sleep_until(planned);
      if (atFault) atFault();
      kill(getpid(), signal);
    }).detach();
  }
  Outcome outcome;
  try {
    while (Clock::now() - start < plan.loopFor) round(comm, buffers);
    return outcome;
  } catch (const Error& e) {
    const auto at = Clock::now();
    const auto fault = hooks.faultMoment ? hooks.faultMoment(planned) : planned;
    outcome.errored = true;
    outcome.code = e.code();
    outcome.text = e.what();
    outcome.detected = at - fault;
    outcome.namesVictim = outcome.text.find(named) != std::string::npos;
    if (plan.stop) {
      // Stopped, not dead: declared lost by the heartbeats, or a timeout seen first-hand.
      outcome.right = (e.code() == ErrorCode::Remote && outcome.namesVictim &&
                       outcome.text.find("stopped responding") != std::string::npos) ||
                      (e.code() == ErrorCode::Timeout && outcome.text.find("BANYAN_TIMEOUT") != std::string::npos);
      const int lowest = plan.victim == 0 ? 1 : 0;
      if (rank == lowest) {
        std::this_thread::sleep_until(fault + stopWait(plan));
        kill(static_cast<pid_t>(pids[static_cast<std::size_t>(plan.victim)]), SIGKILL);
      }
    } else {
      outcome.right = e.code() == ErrorCode::Remote && outcome.namesVictim;
    }
    return outcome;
  }
}

}  // namespace banyan::test::faults
