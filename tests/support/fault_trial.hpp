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
// The measurement also places the fault at other moments (Moment): while the communicator is
// made, in the lazy connection of the first call, inside one collective, in point-to-point, in
// a group; and judges the reports more strictly (blamesVictim: the victim is the cause named in
// the innermost account, not a bystander of the chain).
// No Catch2 here: the tool includes this too.

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>
#include <banyan/work.hpp>

#include "bootstrap/local_launcher.hpp"

#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace banyan::test::faults {

using Clock = std::chrono::steady_clock;

// Where the victim is when the fault lands. Mixed: the loop of mixed collectives after a start
// barrier (the test's trial). Init: while Communicator::fromEnvironment() runs (the victim's
// thread starts before it). Connect: the first call, which makes the connections (no call
// before it). The collectives, P2p (a ring of blocking send/recv) and Group (the same ring as
// one groupStart/groupEnd batch): a loop of that call alone after one warm-up call, the signal
// sent once the planned moment has passed and the victim is inside the call.
enum class Moment { Mixed, Init, Connect, Allreduce, Allgather, Broadcast, Alltoall, ReduceScatter, P2p, Group };

inline constexpr std::array<std::pair<Moment, std::string_view>, 10> kMomentNames{{
    {Moment::Mixed, "mixed"},
    {Moment::Init, "init"},
    {Moment::Connect, "connect"},
    {Moment::Allreduce, "allreduce"},
    {Moment::Allgather, "allgather"},
    {Moment::Broadcast, "broadcast"},
    {Moment::Alltoall, "alltoall"},
    {Moment::ReduceScatter, "reduce_scatter"},
    {Moment::P2p, "p2p"},
    {Moment::Group, "group"},
}};

inline std::string_view momentName(Moment moment) {
  for (const auto& [m, name] : kMomentNames) {
    if (m == moment) return name;
  }
  return "?";
}

inline std::optional<Moment> momentNamed(std::string_view name) {
  for (const auto& [m, n] : kMomentNames) {
    if (n == name) return m;
  }
  return std::nullopt;
}

// What the victim was doing when its signal went out (Hooks::atFault), to tell a fault planned
// "during init" that landed after init from one that landed in it.
enum class Phase : int { None = 0, Init = 1, Connect = 2, Loop = 3 };

inline std::string_view phaseName(Phase phase) {
  switch (phase) {
    case Phase::Init:
      return "init";
    case Phase::Connect:
      return "connect";
    case Phase::Loop:
      return "loop";
    default:
      return "none";
  }
}

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
  Moment moment = Moment::Mixed;
};

// The victim and the moment drawn from `random`, uniformly: any rank, 0-300 ms into the loop
// (Init: 0-`initWindow` after the process starts making its communicator; Connect: 0-5 ms into
// the first call).
inline void drawVictim(Plan& plan, std::mt19937& random,
                       std::chrono::microseconds initWindow = std::chrono::milliseconds(40)) {
  plan.victim = static_cast<int>(random() % static_cast<unsigned>(plan.ranks));
  plan.delay = std::chrono::microseconds(random() % 300000);
  if (plan.moment == Moment::Init) plan.delay = std::chrono::microseconds(random() % initWindow.count());
  if (plan.moment == Moment::Connect) plan.delay = std::chrono::microseconds(random() % 5000);
}

// How errors name the victim, whatever the transport: as the rank lost, not as a bystander
// whose connection closed.
inline std::string victimNamed(const std::string& /*transport*/, int victim) {
  return fmt::format("rank {} was lost", victim);
}

// The strict reading of a survivor's report (the measurement's): the victim is the cause, not a
// bystander. A report is a chain: "<what failed>; rank P had failed before it closed: <P's
// account>", and P's account may chain again; the innermost account says what happened first.
// That account must mention "rank V" (V the victim; not "rank V of N", which is how an
// operation names the rank that runs it), and must not say of any other rank that it "reported
// no failure" (the runtime's words for "that rank died"). A report that names the victim only as
// a rank that had failed before it closed, or that blames the neighbour the victim's loss shut
// down, or whose timeout lists the victim among other ranks it was waiting for, is wrong,
// though victimNamed's text may be in it.
inline bool mentionsRank(std::string_view text, int rank, std::string_view exceptFollowedBy = {}) {
  const std::string needle = fmt::format("rank {}", rank);
  for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) {
    if (at > 0 && (std::isalnum(static_cast<unsigned char>(text[at - 1])) != 0)) continue;  // "xrank 2"
    const std::string_view rest = text.substr(at + needle.size());
    if (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest[0])) != 0) continue;  // "rank 21"
    if (rest.starts_with(" of ")) continue;                                                 // "on rank 2 of 4"
    if (!exceptFollowedBy.empty() && rest.starts_with(exceptFollowedBy)) continue;
    return true;
  }
  return false;
}

inline std::string_view innermostAccount(std::string_view text) {
  constexpr std::string_view kChain = "had failed before it closed:";
  const std::size_t at = text.rfind(kChain);
  return at == std::string_view::npos ? text : text.substr(at + kChain.size());
}

inline bool blamesVictim(std::string_view text, int victim, int ranks) {
  // The control channel's form names the cause outright: "rank X was lost: ...". The first such
  // rank is the cause the report gives, whatever else it mentions ("this rank saw: ...").
  std::size_t first = std::string_view::npos;
  int lost = -1;
  for (int r = 0; r < ranks; ++r) {
    const std::size_t at = text.find(fmt::format("rank {} was lost", r));
    if (at < first) {
      first = at;
      lost = r;
    }
  }
  if (lost >= 0) return lost == victim;
  const std::string_view inner = innermostAccount(text);
  constexpr std::string_view kBystander = " had failed before it closed";
  for (int other = 0; other < ranks; ++other) {
    if (other != victim && inner.find(fmt::format("rank {} reported no failure", other)) != std::string_view::npos) {
      return false;
    }
  }
  // A timeout lists what the call was "waiting for": the ranks it waited on, which need not be
  // the one that stopped. The victim there is only the cause when the list names no other rank.
  constexpr std::string_view kWaiting = "waiting for ";
  const std::size_t waiting = inner.find(kWaiting);
  const std::string_view cause = inner.substr(0, waiting);
  if (mentionsRank(cause, victim, kBystander)) return true;
  if (waiting == std::string_view::npos) return false;
  const std::string_view list = inner.substr(waiting);
  if (!mentionsRank(list, victim, kBystander)) return false;
  for (int other = 0; other < ranks; ++other) {
    if (other != victim && mentionsRank(list, other, kBystander)) return false;
  }
  return true;
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

// One call of the moment's operation (Mixed: one round; Init, Connect: one round too). P2p: a
// ring, rank 0 sending first and every other rank receiving first, so blocking calls cannot
// wait for each other in a circle; Group: the same ring posted as one batch.
inline void round(Communicator& comm, Buffers& b);

inline void once(Communicator& comm, Buffers& b, Moment moment) {
  const int n = comm.size();
  const int rank = comm.rank();
  const int right = (rank + 1) % n;
  const int left = (rank + n - 1) % n;
  const std::size_t perPeer = b.small.size() / static_cast<std::size_t>(n);
  switch (moment) {
    case Moment::Allreduce:
      comm.allreduce(b.big.data(), b.big.size(), DataType::f32, ReduceOp::sum);
      return;
    case Moment::Allgather:
      comm.allgather(b.small.data(), b.gathered.data(), b.small.size(), DataType::f32);
      return;
    case Moment::Broadcast:
      comm.broadcast(b.big.data(), b.big.size(), DataType::f32, 1 % n);
      return;
    case Moment::Alltoall:
      comm.alltoall(b.gathered.data(), b.big.data(), b.small.size(), DataType::f32);
      return;
    case Moment::ReduceScatter:
      comm.reduceScatter(b.gathered.data(), b.small.data(), b.small.size(), DataType::f32, ReduceOp::sum);
      return;
    case Moment::P2p:
      if (rank == 0) {
        comm.send(b.big.data(), b.big.size() / 2, DataType::f32, right, 7);
        comm.recv(b.big.data() + b.big.size() / 2, b.big.size() / 2, DataType::f32, left, 7);
      } else {
        comm.recv(b.big.data() + b.big.size() / 2, b.big.size() / 2, DataType::f32, left, 7);
        comm.send(b.big.data(), b.big.size() / 2, DataType::f32, right, 7);
      }
      return;
    case Moment::Group: {
      comm.groupStart();
      comm.sendAsync(b.big.data(), b.big.size() / 2, DataType::f32, right, 9);
      comm.recvAsync(b.big.data() + b.big.size() / 2, b.big.size() / 2, DataType::f32, left, 9);
      comm.allreduceAsync(b.small.data(), b.small.data(), perPeer, DataType::f32, ReduceOp::sum);
      comm.groupEnd().wait();
      return;
    }
    default:
      round(comm, b);
      return;
  }
}

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
  // stop trial's 2 s BANYAN_TIMEOUT. (Moment::Init, or once the victim's signal went out
  // (Hooks::faultSeen): such an error is judged.)
  bool setupFailed = false;
  bool errored = false;  // false: still looping at plan.loopFor, no error
  ErrorCode code = ErrorCode::Internal;
  std::string text;
  Clock::duration detected{};  // from the fault to the error
  bool right = false;          // the error the fault calls for (header comment)
  bool namesVictim = false;    // and it names the victim (victimNamed, anywhere in the text)
  bool blamesVictim = false;   // the strict reading: the victim is the innermost cause
};

// The hooks let the measurement take the fault's moment from the victim itself (the planned
// moment is when its thread wakes; the signal lands a little later), make the communicator
// another way (mpirun), and end a stopped victim by the pid it recorded.
struct Hooks {
  std::function<void(Phase)> atFault;                                       // in the victim, just before the signal
  std::function<Clock::time_point(Clock::time_point planned)> faultMoment;  // in a survivor, after its error
  std::function<Communicator()> create;                                     // default: fromEnvironment()
  std::function<pid_t(int rank)> pidOf;  // default: the pids the ranks allgather (Mixed only)
  // Whether the victim's signal has gone out: a survivor whose set-up fails after it is judged,
  // not counted as a job that did not start (the victim may be done making its communicator
  // and in its first call while the others still make theirs). Default: only Moment::Init.
  std::function<bool()> faultSeen;
};

namespace detail {

// The victim's own executioner: sleeps until `planned`, then (when `inside` is given) until the
// victim is inside a call, then signals its own process. By value: should the rank fail before
// its fault, the thread outlives the caller's frame.
inline void armFault(int signal, Clock::time_point planned, std::function<void(Phase)> atFault,
                     std::shared_ptr<std::atomic<int>> phase, std::shared_ptr<std::atomic<bool>> inside) {
  std::thread([=] {
    std::this_thread::sleep_until(planned);
    if (inside) {
      // A call is a few milliseconds at most; past a second, the loop has ended or failed.
      const auto giveUp = Clock::now() + std::chrono::seconds(1);
      while (!inside->load() && Clock::now() < giveUp) std::this_thread::yield();
    }
    if (atFault) atFault(static_cast<Phase>(phase->load()));
    kill(getpid(), signal);
  }).detach();
}

}  // namespace detail

// The body of rank `rank` (run under bootstrap::launchLocal, or as a process of its own). The
// victim never returns; a survivor returns what it saw. After a stop the lowest survivor ends
// the stopped victim (SIGKILL) once every survivor has had time for its own timeout.
inline Outcome runRank(const Plan& plan, const std::string& named, const Hooks& hooks = {}, int rankHint = -1) {
  const int signal = plan.stop ? SIGSTOP : SIGKILL;
  auto phase = std::make_shared<std::atomic<int>>(static_cast<int>(Phase::Init));
  auto inside = std::make_shared<std::atomic<bool>>(false);
  const bool victim = rankHint == plan.victim;
  Clock::time_point planned{};
  if (plan.moment == Moment::Init && victim) {
    planned = Clock::now() + plan.delay;
    detail::armFault(signal, planned, hooks.atFault, phase, nullptr);
  }
  // What a survivor reports once a call failed: judged here, the fault's moment taken late (the
  // victim records it in the measurement's shared memory).
  const auto judge = [&](const Error& e, Outcome outcome) {
    const auto at = Clock::now();
    const auto fault = hooks.faultMoment ? hooks.faultMoment(planned) : planned;
    outcome.errored = true;
    outcome.code = e.code();
    outcome.text = e.what();
    outcome.detected = at - fault;
    outcome.namesVictim = outcome.text.find(named) != std::string::npos;
    outcome.blamesVictim = blamesVictim(outcome.text, plan.victim, plan.ranks);
    if (plan.stop) {
      // Stopped, not dead: declared lost by the heartbeats, or a timeout seen first-hand.
      outcome.right = (e.code() == ErrorCode::Remote && outcome.namesVictim &&
                       outcome.text.find("stopped responding") != std::string::npos) ||
                      (e.code() == ErrorCode::Timeout && outcome.text.find("BANYAN_TIMEOUT") != std::string::npos);
    } else if (plan.moment == Moment::Init) {
      outcome.right = outcome.blamesVictim;  // a rank that never joined: a Timeout may be all there is
    } else {
      outcome.right = e.code() == ErrorCode::Remote && outcome.namesVictim;
    }
    return outcome;
  };
  // After a stop, the lowest survivor ends the stopped victim once every survivor has had time.
  const auto endStopped = [&](int rank, pid_t victimPid) {
    if (!plan.stop || rank != (plan.victim == 0 ? 1 : 0) || victimPid <= 0) return;
    const auto fault = hooks.faultMoment ? hooks.faultMoment(planned) : planned;
    std::this_thread::sleep_until(fault + stopWait(plan));
    kill(victimPid, SIGKILL);
  };

  std::optional<Communicator> made;
  std::vector<std::int64_t> pids(static_cast<std::size_t>(plan.ranks));
  try {
    made.emplace(hooks.create ? hooks.create() : Communicator::fromEnvironment());
    phase->store(static_cast<int>(Phase::Connect));  // until the first call is done
    if (plan.moment == Moment::Mixed) {
      const std::int64_t mine = getpid();
      made->allgather(&mine, pids.data(), 1, DataType::i64);
      made->barrier();
    }
  } catch (const Error& e) {
    Outcome failed;
    if (plan.moment == Moment::Init || (hooks.faultSeen && hooks.faultSeen())) {
      failed = judge(e, failed);
      if (rankHint >= 0 && hooks.pidOf) endStopped(rankHint, hooks.pidOf(plan.victim));
      return failed;
    }
    failed.setupFailed = true;
    failed.text = e.what();
    return failed;
  }
  Communicator& comm = *made;
  const int rank = comm.rank();
  const auto pidOf = [&](int r) {
    return hooks.pidOf ? hooks.pidOf(r) : static_cast<pid_t>(pids[static_cast<std::size_t>(r)]);
  };
  Buffers buffers(comm.size());
  Outcome outcome;
  try {
    if (plan.moment == Moment::Connect) {
      // No call before this one: the fault lands while it makes the connections.
      if (rank == plan.victim) {
        planned = Clock::now() + plan.delay;
        detail::armFault(signal, planned, hooks.atFault, phase, nullptr);
      }
    } else if (plan.moment != Moment::Mixed && plan.moment != Moment::Init) {
      once(comm, buffers, plan.moment);  // warm-up: the connections are made before the fault
    }
    const auto start = Clock::now();
    if (plan.moment != Moment::Init && plan.moment != Moment::Connect) {
      planned = start + plan.delay;
      if (rank == plan.victim) {
        phase->store(static_cast<int>(Phase::Loop));
        detail::armFault(signal, planned, hooks.atFault, phase, plan.moment == Moment::Mixed ? nullptr : inside);
      }
    }
    while (Clock::now() - start < plan.loopFor) {
      inside->store(true);
      once(comm, buffers, plan.moment);
      inside->store(false);
      phase->store(static_cast<int>(Phase::Loop));
    }
    return outcome;
  } catch (const Error& e) {
    outcome = judge(e, outcome);
    endStopped(rank, pidOf(plan.victim));
    return outcome;
  }
}

}  // namespace banyan::test::faults
