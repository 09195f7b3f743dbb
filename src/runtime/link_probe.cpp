#include "runtime/link_probe.hpp"

#include "common/status.hpp"

#include <algorithm>
#include <vector>

namespace banyan::runtime {

namespace {

using algorithms::BufferId;
using algorithms::Schedule;
using algorithms::Span;
using Clock = std::chrono::steady_clock;

// Runs `schedule` to the end, driving the loop; returns how long it took.
double runUs(Executor& executor, const std::function<void()>& pollOnce, Schedule schedule, std::vector<std::byte>& in,
             std::vector<std::byte>& out, int size, Clock::time_point deadline, int peer) {
  bool done = false;
  Status result;
  Operation op;
  op.tag = kProbeTag;
  op.plan = makePlan(std::move(schedule));
  op.input = in.data();
  op.output = out.data();
  op.elementSize = 1;
  op.type = DataType::u8;
  op.op = ReduceOp::sum;
  op.nranks = size;
  op.onDone = [&](const Status& status) {
    result = status;
    done = true;
  };
  const auto start = Clock::now();
  executor.start(std::move(op));
  while (!done) {
    if (Clock::now() >= deadline) {
      executor.fail(Status::make(ErrorCode::Timeout, "topology probe: no answer from rank {} in time", peer));
      continue;  // finish() runs onDone
    }
    pollOnce();
  }
  if (!result.isOk()) fail(result.code(), "topology probe with rank {}: {}", peer, result.message());
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// One ping-pong (a sends first) or, with `bulk`, kBulkMessages a -> b and an 8 B ack b -> a.
Schedule pattern(bool isA, int peer, std::size_t bytes, int messages) {
  Schedule s;
  const Span small{BufferId::Input, 0, 8};
  const Span into{BufferId::Output, 0, 8};
  if (isA) {
    for (int i = 0; i < messages; ++i) s.add(algorithms::sendStep(peer, Span{BufferId::Input, 0, bytes}));
    auto ack = algorithms::recvStep(peer, into);
    if (messages > 0) ack.dependOn(static_cast<std::uint32_t>(messages - 1));
    s.add(ack);
  } else {
    std::uint32_t last = 0;
    for (int i = 0; i < messages; ++i) last = s.add(algorithms::recvStep(peer, Span{BufferId::Output, 0, bytes}));
    auto ack = algorithms::sendStep(peer, small);
    // Only after the last message: the reply times the whole transfer.
    if (messages > 0) ack.dependOn(last);
    s.add(ack);
  }
  return s;
}

}  // namespace

std::optional<topology::LinkFigures> measureLink(Executor& executor, const std::function<void()>& pollOnce, int rank,
                                                 int a, int b, std::size_t bulkBytes, Clock::time_point deadline) {
  const bool isA = rank == a;
  const int peer = isA ? b : a;
  const int size = std::max(a, b) + 1;
  std::vector<std::byte> in(std::max<std::size_t>(bulkBytes, 8)), out(std::max<std::size_t>(bulkBytes, 8));
  double bestRoundTrip = 1e300;
  for (int i = 0; i < kRoundTrips; ++i) {
    // a: send, then wait for the reply; b: wait, then reply (pattern with one message).
    bestRoundTrip =
        std::min(bestRoundTrip, runUs(executor, pollOnce, pattern(isA, peer, 8, 1), in, out, size, deadline, peer));
  }
  const double bulkUs =
      runUs(executor, pollOnce, pattern(isA, peer, bulkBytes, kBulkMessages), in, out, size, deadline, peer);
  if (!isA) return std::nullopt;
  const double transferUs = std::max(bulkUs - bestRoundTrip, 1.0);
  return topology::LinkFigures{bestRoundTrip / 2, static_cast<double>(bulkBytes) * kBulkMessages / transferUs,
                               "measured"};
}

}  // namespace banyan::runtime
