#include "simulate/event_simulation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <tuple>

namespace banyan::simulate {

namespace {

using algorithms::StepKind;

constexpr std::uint8_t kNoOp = 1;    // a Copy onto itself
constexpr std::uint8_t kDone = 2;    // finished
constexpr std::uint8_t kParked = 4;  // a ready Send waiting for an earlier Send to the same peer
constexpr std::uint8_t kPosted = 8;  // a Recv handed to the transport (it and every earlier Recv from its peer ready)
constexpr std::uint8_t kGated = 16;  // a step without dependencies of a call after the first: waits for the call before
constexpr std::uint32_t kNone = 0xffffffffu;

bool isMessage(std::uint8_t kind) {
  return kind == static_cast<std::uint8_t>(StepKind::Send) || kind == static_cast<std::uint8_t>(StepKind::Recv);
}

std::size_t countOf(const algorithms::Step& step) {
  return step.kind == StepKind::Send ? step.a.count : step.dst.count;
}

}  // namespace

const char* toString(Symmetry symmetry) {
  switch (symmetry) {
    case Symmetry::None:
      return "none";
    case Symmetry::Rotation:
      return "rotation";
    case Symmetry::Xor:
      return "xor";
  }
  return "?";
}

std::string invalidReason(const Cluster& c) {
  if (c.hosts < 1) return fmt::format("hosts must be at least 1, not {}", c.hosts);
  if (c.ranksPerHost < 1) return fmt::format("ranks per host must be at least 1, not {}", c.ranksPerHost);
  if (static_cast<long long>(c.hosts) * c.ranksPerHost > (1 << 24)) {
    return fmt::format("{} hosts x {} ranks is more than 2^24 ranks", c.hosts, c.ranksPerHost);
  }
  const auto positive = [](double v) { return v > 0 && v < 1e300; };
  if (!positive(c.inter.bandwidthMBps))
    return fmt::format("inter bandwidth must be positive, not {}", c.inter.bandwidthMBps);
  if (!positive(c.intra.bandwidthMBps))
    return fmt::format("intra bandwidth must be positive, not {}", c.intra.bandwidthMBps);
  if (!positive(c.copyMBps)) return fmt::format("memory (copy) rate must be positive, not {}", c.copyMBps);
  if (!positive(c.reduceMBps)) return fmt::format("reduce rate must be positive, not {}", c.reduceMBps);
  if (!(c.inter.latencyUs >= 0)) return fmt::format("inter latency must not be negative, not {}", c.inter.latencyUs);
  if (!(c.intra.latencyUs >= 0)) return fmt::format("intra latency must not be negative, not {}", c.intra.latencyUs);
  if (!(c.inter.cpuUs >= 0 && c.inter.cpuUs < 1e300))
    return fmt::format("inter CPU per message must not be negative, not {}", c.inter.cpuUs);
  if (!(c.intra.cpuUs >= 0 && c.intra.cpuUs < 1e300))
    return fmt::format("intra CPU per message must not be negative, not {}", c.intra.cpuUs);
  if (c.machineCores < 0) return fmt::format("machine cores must not be negative, not {}", c.machineCores);
  return {};
}

EventSimulation::EventSimulation(const Cluster& cluster, Symmetry symmetry, std::size_t elementSize, int calls)
    : cluster_(cluster), symmetry_(symmetry), element_(elementSize), calls_(std::max(1, calls)) {
  stepBegin_.push_back(0);
  dependentsBegin_.push_back(0);
  slotBegin_.push_back(0);
  sendsBegin_.push_back(0);
  recvsBegin_.push_back(0);
}

int EventSimulation::simulatedRanks() const {
  return symmetry_ == Symmetry::None ? cluster_.size() : cluster_.ranksPerHost;
}

void EventSimulation::add(const algorithms::Schedule& schedule) {
  const auto rank = static_cast<int>(stepBegin_.size() - 1);
  const std::size_t rankFirst = kind_.size();
  for (int call = 0; call < calls_; ++call) addCall(schedule, call > 0);
  stepBegin_.push_back(static_cast<std::uint32_t>(kind_.size()));
  indexPeers(rank, rankFirst, kind_.size());
}

// One call's steps of the rank being added; `gated`: its first steps wait for the call before.
void EventSimulation::addCall(const algorithms::Schedule& schedule, bool gated) {
  const std::size_t first = kind_.size();
  const std::size_t n = schedule.steps.size();
  callBegin_.push_back(static_cast<std::uint32_t>(first));
  callRemaining_.push_back(static_cast<std::uint32_t>(n));
  std::vector<std::uint32_t> counts(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const algorithms::Step& s = schedule.steps[i];
    const bool noOp = s.kind == StepKind::Copy && s.dst.buffer == s.a.buffer && s.dst.offset == s.a.offset &&
                      s.dst.count == s.a.count;
    const bool waitsForCall = gated && s.depCount == 0;
    kind_.push_back(static_cast<std::uint8_t>(s.kind));
    waiting_.push_back(static_cast<std::uint8_t>(s.depCount + (waitsForCall ? 1 : 0)));
    flags_.push_back(static_cast<std::uint8_t>((noOp ? kNoOp : 0) | (waitsForCall ? kGated : 0)));
    peer_.push_back(s.peer);
    ordinal_.push_back(0);
    slot_.push_back(kNone);
    match_.push_back(kNone);
    bytes_.push_back(static_cast<double>(countOf(s) * element_));
    ready_.push_back(0);
    arrival_.push_back(-1);
    for (std::size_t d = 0; d < s.depCount; ++d) ++counts[s.deps[d]];
  }
  // Dependents, CSR over global step indices.
  const auto base = static_cast<std::uint32_t>(dependents_.size());
  std::vector<std::uint32_t> at(n, 0);
  std::uint32_t running = base;
  for (std::size_t i = 0; i < n; ++i) {
    at[i] = running;
    running += counts[i];
    dependentsBegin_.push_back(running);
  }
  dependents_.resize(running);
  for (std::size_t i = 0; i < n; ++i) {
    const algorithms::Step& s = schedule.steps[i];
    for (std::size_t d = 0; d < s.depCount; ++d) dependents_[at[s.deps[d]]++] = static_cast<std::uint32_t>(first + i);
  }
}

void EventSimulation::indexPeers(int rank, std::size_t first, std::size_t end) {
  (void)rank;
  std::vector<std::tuple<std::int32_t, bool, std::uint32_t>> messages;  // peer, is a Recv, step
  for (std::size_t g = first; g < end; ++g) {
    if (!isMessage(kind_[g])) continue;
    messages.emplace_back(peer_[g], kind_[g] == static_cast<std::uint8_t>(StepKind::Recv),
                          static_cast<std::uint32_t>(g));
  }
  std::sort(messages.begin(), messages.end());
  std::size_t i = 0;
  while (i < messages.size()) {
    const std::int32_t peer = std::get<0>(messages[i]);
    const auto slot = static_cast<std::uint32_t>(slotPeer_.size());
    slotPeer_.push_back(peer);
    std::uint32_t sent = 0, received = 0;
    for (; i < messages.size() && std::get<0>(messages[i]) == peer; ++i) {
      const auto [p, recv, g] = messages[i];
      slot_[g] = slot;
      ordinal_[g] = recv ? received++ : sent++;
      (recv ? recvs_ : sends_).push_back(g);
    }
    sendsBegin_.push_back(static_cast<std::uint32_t>(sends_.size()));
    recvsBegin_.push_back(static_cast<std::uint32_t>(recvs_.size()));
  }
  slotBegin_.push_back(static_cast<std::uint32_t>(slotPeer_.size()));
}

int EventSimulation::simRankOf(int realRank) const {
  return symmetry_ == Symmetry::None ? realRank : realRank % cluster_.ranksPerHost;
}

// The sender as the receiver's stand-in sees it: relabel hosts so that the receiver's host is 0.
int EventSimulation::senderSeenBy(int senderSim, int realReceiver) const {
  const int n = cluster_.size();
  const int shift = cluster_.hostOf(realReceiver) * cluster_.ranksPerHost;
  switch (symmetry_) {
    case Symmetry::None:
      return senderSim;
    case Symmetry::Rotation:
      return ((senderSim - shift) % n + n) % n;
    case Symmetry::Xor:
      return senderSim ^ shift;
  }
  return senderSim;
}

bool EventSimulation::crossesHosts(int senderSim, int realReceiver) const {
  return cluster_.hostOf(senderSim) != cluster_.hostOf(realReceiver);
}

std::string EventSimulation::describe(std::uint32_t step) const {
  const auto rank =
      static_cast<std::size_t>(std::upper_bound(stepBegin_.begin(), stepBegin_.end(), step) - stepBegin_.begin() - 1);
  static const char* const kNames[] = {"send to", "recv from", "reduce", "copy"};
  const std::string peer = isMessage(kind_[step]) ? fmt::format(" {}", peer_[step]) : "";
  return fmt::format("rank {} step #{} ({}{}, {} B)", rank, step - stepBegin_[rank], kNames[kind_[step]], peer,
                     bytes_[step]);
}

std::string EventSimulation::matchSends() {
  for (int r = 0; r + 1 < static_cast<int>(stepBegin_.size()); ++r) {
    for (std::uint32_t s = slotBegin_[r]; s < slotBegin_[r + 1]; ++s) {
      const std::int32_t p = slotPeer_[s];
      if (p < 0 || p >= cluster_.size()) {
        return fmt::format("rank {} talks to rank {}, outside 0..{}", r, p, cluster_.size() - 1);
      }
      const int q = simRankOf(p);
      const int seen = senderSeenBy(r, p);
      const auto begin = slotPeer_.begin() + slotBegin_[q], end = slotPeer_.begin() + slotBegin_[q + 1];
      const auto it = std::lower_bound(begin, end, seen);
      const std::uint32_t sendCount = sendsBegin_[s + 1] - sendsBegin_[s];
      const std::uint32_t recvSlot =
          (it != end && *it == seen) ? static_cast<std::uint32_t>(it - slotPeer_.begin()) : kNone;
      const std::uint32_t recvCount = recvSlot == kNone ? 0 : recvsBegin_[recvSlot + 1] - recvsBegin_[recvSlot];
      if (sendCount != recvCount) {
        return fmt::format("rank {} sends {} message(s) to rank {}, which receives {} from it", r, sendCount, p,
                           recvCount);
      }
      for (std::uint32_t k = 0; k < sendCount; ++k) {
        const std::uint32_t send = sends_[sendsBegin_[s] + k];
        const std::uint32_t recv = recvs_[recvsBegin_[recvSlot] + k];
        if (bytes_[send] != bytes_[recv]) {
          return fmt::format("{} carries {} B into {}, which expects {} B", describe(send), bytes_[send],
                             describe(recv), bytes_[recv]);
        }
        match_[send] = recv;
        match_[recv] = send;
      }
    }
  }
  return {};
}

void EventSimulation::push(std::uint32_t step, double at) {
  const auto rank =
      static_cast<std::int32_t>(std::upper_bound(stepBegin_.begin(), stepBegin_.end(), step) - stepBegin_.begin() - 1);
  heap_.push_back({at, rank, step});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
}

void EventSimulation::becomeReady(std::uint32_t step) {
  if (kind_[step] != static_cast<std::uint8_t>(StepKind::Recv)) return push(step, ready_[step]);
  // Receives from one peer are posted in step order, as the executor posts them: a ready Recv
  // waits for the one before it, and posting it may let the ones after it go.
  const std::uint32_t slot = slot_[step];
  std::uint32_t k = ordinal_[step];
  const std::uint32_t first = recvsBegin_[slot], count = recvsBegin_[slot + 1] - first;
  if (k > 0 && !(flags_[recvs_[first + k - 1]] & kPosted)) return;
  for (; k < count; ++k) {
    const std::uint32_t recv = recvs_[first + k];
    if (waiting_[recv] != 0 || (flags_[recv] & kPosted)) break;
    if (k > 0) ready_[recv] = std::max(ready_[recv], ready_[recvs_[first + k - 1]]);
    flags_[recv] |= kPosted;
    if (arrival_[recv] >= 0) push(recv, std::max(ready_[recv], arrival_[recv]));  // else its Send pushes it
  }
}

void EventSimulation::finish(std::uint32_t step, double time) {
  flags_[step] |= kDone;
  last_ = std::max(last_, time);
  if (calls_ > 1) {
    const auto call =
        static_cast<std::size_t>(std::upper_bound(callBegin_.begin(), callBegin_.end(), step) - callBegin_.begin() - 1);
    if (--callRemaining_[call] == 0) callDone(call, time);
  }
  for (std::uint32_t i = dependentsBegin_[step]; i < dependentsBegin_[step + 1]; ++i) {
    const std::uint32_t next = dependents_[i];
    ready_[next] = std::max(ready_[next], time);
    if (--waiting_[next] == 0) becomeReady(next);
  }
}

void EventSimulation::transfer(std::uint32_t step, int rank, double time) {
  const std::uint32_t slot = slot_[step];
  const std::uint32_t k = ordinal_[step];
  if (nextSend_[slot] != k) {
    flags_[step] |= kParked;  // an earlier Send to this peer goes first
    return;
  }
  const int p = peer_[step];
  const int q = simRankOf(p);
  const bool inter = crossesHosts(rank, p);
  const Link& link = inter ? cluster_.inter : cluster_.intra;
  const std::uint32_t recv = match_[step];
  const bool pooled = cluster_.machineCores > 0;
  if (link.cpuUs > 0 || pooled) time = runOnCore(rank, time, link.cpuUs);
  if (pooled && !inter) {
    // A copy by the receiver (receive()): the Send finishes with it; the next Send to this
    // peer may go as soon as this one is handed over.
    arrival_[recv] = time + link.latencyUs;
    if (flags_[recv] & kPosted) push(recv, std::max(ready_[recv], arrival_[recv]));
    releaseNextSend(slot, k, time);
    return;
  }
  const bool oneHost = symmetry_ != Symmetry::None;
  Port& out = inter ? nicPort_[oneHost ? 0 : static_cast<std::size_t>(cluster_.hostOf(rank))]
                    : rankPort_[static_cast<std::size_t>(rank)];
  Port& in = inter ? nicPort_[oneHost ? 0 : static_cast<std::size_t>(cluster_.hostOf(q))]
                   : rankPort_[static_cast<std::size_t>(q)];
  const double busy = bytes_[step] / link.bandwidthMBps;
  const double start = std::max(time, out.outFree);
  out.outFree = start + busy;
  const double landed = std::max(start, in.inFree) + busy;
  in.inFree = landed;
  arrival_[recv] = landed + link.latencyUs;
  if (flags_[recv] & kPosted) push(recv, std::max(ready_[recv], arrival_[recv]));
  finish(step, start + busy);
  releaseNextSend(slot, k, start);
}

// A rank's call ended at `time`: its next call, if it has one, begins.
void EventSimulation::callDone(std::size_t call, double time) {
  if (call % static_cast<std::size_t>(calls_) == static_cast<std::size_t>(calls_) - 1) return;  // the rank's last
  const std::uint32_t end =
      call + 2 < callBegin_.size() ? callBegin_[call + 2] : static_cast<std::uint32_t>(kind_.size());
  for (std::uint32_t g = callBegin_[call + 1]; g < end; ++g) {
    if (!(flags_[g] & kGated)) continue;
    ready_[g] = std::max(ready_[g], time);
    if (--waiting_[g] == 0) becomeReady(g);
  }
}

// The k-th Send of `slot` has started at `start`: the one after it, if parked, may go.
void EventSimulation::releaseNextSend(std::uint32_t slot, std::uint32_t k, double start) {
  ++nextSend_[slot];
  if (k + 1 < sendsBegin_[slot + 1] - sendsBegin_[slot]) {
    const std::uint32_t following = sends_[sendsBegin_[slot] + k + 1];
    if (flags_[following] & kParked) {
      flags_[following] &= static_cast<std::uint8_t>(~kParked);
      ready_[following] = std::max(ready_[following], start);
      becomeReady(following);
    }
  }
}

// A posted Recv whose bytes have arrived (or, a copy, whose Send has been handed over).
void EventSimulation::receive(std::uint32_t step, int rank, double time) {
  const bool inter = crossesHosts(rank, peer_[step]);
  const Link& link = inter ? cluster_.inter : cluster_.intra;
  if (cluster_.machineCores > 0 && !inter) {
    const double copied = runOnCore(rank, time, link.cpuUs + bytes_[step] / link.bandwidthMBps);
    finish(step, copied);
    return finish(match_[step], copied);
  }
  finish(step, link.cpuUs > 0 ? runOnCore(rank, time, link.cpuUs) : time);
}

// Runs `duration` of work on `rank`'s thread from `at` or when it is free, and with a machine's
// pool on its core free first; returns when the work ends.
double EventSimulation::runOnCore(int rank, double at, double duration) {
  double& own = core_[static_cast<std::size_t>(rank)];
  double start = std::max(at, own);
  if (!pool_.empty() && duration > 0) {
    const auto core = std::min_element(pool_.begin(), pool_.end());
    start = std::max(start, *core);
    *core = start + duration;
  }
  own = start + duration;
  return own;
}

void EventSimulation::execute(const Event& event) {
  const std::uint32_t step = event.step;
  const auto kind = static_cast<StepKind>(kind_[step]);
  if (kind == StepKind::Recv) return receive(step, event.rank, event.time);
  if (kind == StepKind::Send) return transfer(step, event.rank, event.time);
  if (flags_[step] & kNoOp) return finish(step, event.time);
  const double rate = kind == StepKind::Reduce ? cluster_.reduceMBps : cluster_.copyMBps;
  finish(step, runOnCore(event.rank, event.time, bytes_[step] / rate));
}

SimulationResult EventSimulation::run() {
  SimulationResult result;
  result.steps = kind_.size();
  const int ranks = static_cast<int>(stepBegin_.size() - 1);
  if (ranks != simulatedRanks()) {
    result.error = fmt::format("{} schedules for {} simulated ranks", ranks, simulatedRanks());
    return result;
  }
  if (std::string why = invalidReason(cluster_); !why.empty()) {
    result.error = why;
    return result;
  }
  if (std::string why = matchSends(); !why.empty()) {
    result.error = why;
    return result;
  }
  nextSend_.assign(slotPeer_.size(), 0);
  rankPort_.assign(static_cast<std::size_t>(ranks), Port{});
  nicPort_.assign(symmetry_ == Symmetry::None ? static_cast<std::size_t>(cluster_.hosts) : 1, Port{});
  core_.assign(static_cast<std::size_t>(ranks), 0.0);
  pool_.assign(static_cast<std::size_t>(cluster_.machineCores), 0.0);
  for (std::uint32_t g = 0; g < kind_.size(); ++g) {
    if (waiting_[g] == 0) becomeReady(g);
  }
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    const Event event = heap_.back();
    heap_.pop_back();
    ++events_;
    execute(event);
  }
  result.events = events_;
  for (std::uint32_t g = 0; g < kind_.size(); ++g) {
    if (!(flags_[g] & kDone)) {
      result.error = fmt::format("the schedules stall: {} never runs", describe(g));
      return result;
    }
  }
  result.us = last_ / calls_;
  return result;
}

}  // namespace banyan::simulate
