// Two-level hierarchical allreduce as a schedule.
//
// Terms
//   host      the ranks that share a machine (hostOfRank); inside it messages go through
//             shared memory, which is much faster than the network between hosts.
//   leader    the lowest rank of each host. Leaders are numbered in the order of their ranks
//             (leader index), and only they talk across hosts.
//   locals    the other ranks of a host.
//   final     a step of the leaders' ring that writes its last value into a span of Output:
//   writer    a Recv into Output (allgather phase), a Reduce marked finalize, or a Copy into
//             Output. Every element of Output has exactly one final writer.
//
// Phases
//   1. gather-reduce: every local sends its Input to its leader; the leader receives each
//      into its own scratch slot and folds it into an accumulator (acc = Input op slot1,
//      acc = acc op slot2, ...). With one host the last fold writes Output and finalizes.
//   2. ring: the leaders run ringAllreduce over the accumulators (leader index as rank), its
//      Input mapped to the accumulator, its Scratch placed after the slots, its peers mapped
//      to the leaders' ranks. Its first steps wait for the last fold.
//   3. hand-back: for each final writer of the ring, in step order, the leader sends that span
//      of Output to each local, after that step. A local computes the same ring schedule (it
//      knows its leader's index) and receives the same spans in the same order.
//
// Bytes: a host's network link carries the leaders' ring only, 2 (L - 1) / L of the vector for
// L hosts, against 2 (n - 1) / n per crossing rank of the flat ring with n ranks: with 2 hosts of
// 2 ranks, 1x the vector instead of 1.5x. Inside the host the leader receives and sends
// (locals) whole vectors over shared memory.
//
// In place: a local's receives overwrite its Input, so the first depends on its send. A
// leader's folds read Input before the ring writes Output (the ring waits for the last fold);
// with no locals the ring reads Input itself and handles in place as ringAllreduce does.

#include "algorithms/hierarchical.hpp"

#include "algorithms/ring.hpp"

#include <algorithm>
#include <unordered_set>
#include <vector>

namespace banyan::algorithms {

namespace {

bool finalWriter(const Step& step) {
  if (step.dst.buffer != BufferId::Output) return false;
  return step.kind == StepKind::Recv || step.kind == StepKind::Copy || (step.kind == StepKind::Reduce && step.finalize);
}

Span remap(Span span, const Span& input, std::size_t scratchBase) {
  if (span.buffer == BufferId::Input) {
    span.buffer = input.buffer;
    span.offset += input.offset;
  } else if (span.buffer == BufferId::Scratch) {
    span.offset += scratchBase;
  }
  return span;
}

}  // namespace

Schedule hierarchicalAllreduce(int rank, const std::vector<int>& hostOfRank, std::size_t count,
                               std::size_t sliceCount) {
  Schedule schedule;
  const int size = static_cast<int>(hostOfRank.size());
  if (count == 0) return schedule;
  if (size == 1) {
    schedule.add(copyStep(Span{BufferId::Output, 0, count}, Span{BufferId::Input, 0, count}));
    return schedule;
  }
  const int host = hostOfRank[static_cast<std::size_t>(rank)];
  std::vector<int> leaders;  // ascending
  std::vector<int> locals;   // of this rank's host, without its leader
  int leader = -1;
  std::unordered_set<int> led;  // hosts that have a leader (a scan of the leaders made this O(ranks x hosts))
  for (int r = 0; r < size; ++r) {
    const int h = hostOfRank[static_cast<std::size_t>(r)];
    if (led.insert(h).second) {
      leaders.push_back(r);
      if (h == host) leader = r;
    } else if (h == host) {
      locals.push_back(r);
    }
  }
  const int hosts = static_cast<int>(leaders.size());
  const int leaderIndex = static_cast<int>(std::find(leaders.begin(), leaders.end(), leader) - leaders.begin());
  const Span whole{BufferId::Output, 0, count};

  // The leaders' ring (also computed by locals, to mirror the hand-back). One host: none.
  Schedule ring;
  if (hosts > 1) ring = ringAllreduce(leaderIndex, hosts, count, sliceCount);

  if (rank != leader) {
    const std::uint32_t sent = schedule.add(sendStep(leader, Span{BufferId::Input, 0, count}));
    std::uint32_t previous = sent;
    auto receive = [&](const Span& span) {
      Step recv = recvStep(leader, span);
      recv.dependOn(previous);  // in place: after the send; then in order (spans may repeat)
      previous = schedule.add(recv);
    };
    if (hosts == 1) {
      receive(whole);
    } else {
      for (const Step& step : ring.steps) {
        if (finalWriter(step)) receive(step.dst);
      }
    }
    return schedule;
  }

  // Phase 1: fold the locals' vectors into the accumulator (Scratch [0, count)), or, with one
  // host, finally into Output.
  const std::size_t slots = locals.size();
  Span accumulator{BufferId::Input, 0, count};
  std::uint32_t lastFold = 0;
  bool folded = false;
  for (std::size_t i = 0; i < slots; ++i) {
    const Span slot{BufferId::Scratch, count * (1 + i), count};
    const std::uint32_t received = schedule.add(recvStep(locals[i], slot));
    const bool last = i + 1 == slots;
    const Span into = hosts == 1 && last ? whole : Span{BufferId::Scratch, 0, count};
    Step fold = reduceStep(into, accumulator, slot, /*finalize=*/hosts == 1 && last);
    fold.dependOn(received);
    if (folded) fold.dependOn(lastFold);
    lastFold = schedule.add(fold);
    folded = true;
    accumulator = into;
  }
  const std::size_t scratchBase = slots > 0 ? count * (1 + slots) : 0;

  if (hosts == 1) {
    // Phase 3 with one host: the fold into Output was final (slots > 0: size > 1 on one host).
    for (int local : locals) {
      Step send = sendStep(local, whole);
      send.dependOn(lastFold);
      schedule.add(send);
    }
    schedule.scratchCount = scratchBase;
    return schedule;
  }

  // Phase 2: the ring over the accumulator.
  const auto offset = static_cast<std::uint32_t>(schedule.steps.size());
  std::vector<std::uint32_t> finals;
  for (std::size_t i = 0; i < ring.steps.size(); ++i) {
    Step step = ring.steps[i];
    if (step.peer >= 0) step.peer = leaders[static_cast<std::size_t>(step.peer)];
    step.dst = remap(step.dst, accumulator, scratchBase);
    step.a = remap(step.a, accumulator, scratchBase);
    step.b = remap(step.b, accumulator, scratchBase);
    for (std::uint8_t d = 0; d < step.depCount; ++d) step.deps[d] += offset;
    if (step.depCount == 0 && folded) step.dependOn(lastFold);
    const std::uint32_t index = schedule.add(step);
    if (finalWriter(step)) finals.push_back(index);
  }
  // Phase 3: hand each final span to the locals as soon as it is written.
  for (std::uint32_t index : finals) {
    for (int local : locals) {
      Step send = sendStep(local, schedule.steps[index].dst);
      send.dependOn(index);
      schedule.add(send);
    }
  }
  schedule.scratchCount = scratchBase + ring.scratchCount;
  return schedule;
}

}  // namespace banyan::algorithms
