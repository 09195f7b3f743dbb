// Schedules, checked symbolically: ring allreduce and ring allgather for every rank count up to
// 32 and awkward element counts, and the checker itself against schedules broken on purpose.

#include "algorithms/ring.hpp"
#include "algorithms/schedule.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <vector>

using namespace banyan::algorithms;
using banyan::test::firstStepOf;
using banyan::test::mutated;

namespace {

constexpr std::size_t kHugeSlice = std::size_t{1} << 40;

std::vector<std::size_t> countsFor(int size) {
  const auto n = static_cast<std::size_t>(size);
  return {0, 1, n - 1, n, n + 1, 3 * n + 2, 100, 1000};
}

void removeDep(Step& step, std::uint32_t dep) {
  for (std::uint8_t i = 0; i < step.depCount; ++i) {
    if (step.deps[i] == dep) {
      step.deps[i] = step.deps[step.depCount - 1];
      --step.depCount;
      return;
    }
  }
}

}  // namespace

TEST_CASE("describe prints one step a line", "[schedule]") {
  Schedule schedule;
  const auto send = schedule.add(sendStep(1, Span{BufferId::Input, 0, 4}));
  Step recv = recvStep(2, Span{BufferId::Scratch, 0, 4});
  const auto recvIndex = schedule.add(recv);
  Step reduce =
      reduceStep(Span{BufferId::Output, 4, 4}, Span{BufferId::Input, 4, 4}, Span{BufferId::Scratch, 0, 4}, true);
  reduce.dependOn(recvIndex);
  reduce.dependOn(recvIndex);  // duplicates are ignored
  reduce.dependOn(send);
  schedule.add(reduce);
  schedule.add(copyStep(Span{BufferId::Output, 0, 4}, Span{BufferId::Input, 0, 4}));
  schedule.scratchCount = 4;
  CHECK(schedule.steps[2].depCount == 2);
  CHECK(describe(schedule) ==
        "#0 send to 1 <- in[0,+4]\n"
        "#1 recv from 2 -> scr[0,+4]\n"
        "#2 reduce out[4,+4] = in[4,+4] op scr[0,+4] finalize after #1, #0\n"
        "#3 copy out[0,+4] = in[0,+4]\n"
        "scratch: 4 elements\n");
}

TEST_CASE("ring allreduce is correct for every size up to 32", "[schedule]") {
  for (int size = 1; size <= 32; ++size) {
    for (const std::size_t count : countsFor(size)) {
      for (const std::size_t slice : {std::size_t{1}, std::size_t{3}, std::size_t{64}, kHugeSlice}) {
        // The largest configurations are the slowest and add little: check them once.
        const bool big = count * static_cast<std::size_t>(size) / slice > 4000;
        CheckOptions options;
        options.seed = static_cast<std::uint64_t>(size) * 7919 + count * 31 + slice;
        options.runs = big ? 1 : 3;
        const std::string error = checkAllreduce(
            size, count, [&](int rank) { return ringAllreduce(rank, size, count, slice); }, options);
        INFO("size " << size << ", count " << count << ", slice " << slice);
        REQUIRE(error == "");
        for (int rank = 0; rank < size; ++rank) {
          const Schedule schedule = ringAllreduce(rank, size, count, slice);
          REQUIRE(schedule.scratchCount <= kRingScratchSlots * std::min(slice, count));
        }
      }
    }
  }
}

TEST_CASE("ring allgather is correct for every size up to 32", "[schedule]") {
  for (int size = 1; size <= 32; ++size) {
    for (const std::size_t count : countsFor(size)) {
      for (const std::size_t slice : {std::size_t{1}, std::size_t{3}, std::size_t{64}, kHugeSlice}) {
        // 1000 elements per rank in 1- or 3-element slices is up to 62000 steps per rank: keep
        // those to 12 ranks (the slicing is the same at every size, and count 100 covers it up
        // to 32 ranks) so that the whole run stays within seconds.
        if (count == 1000 && slice < 64 && size > 12) continue;
        const bool big = count * static_cast<std::size_t>(size) / slice > 4000;
        CheckOptions options;
        options.seed = static_cast<std::uint64_t>(size) * 104729 + count * 17 + slice;
        options.runs = big ? 1 : 3;
        const std::string error = checkAllgather(
            size, count, [&](int rank) { return ringAllgather(rank, size, count, slice); }, options);
        INFO("size " << size << ", count " << count << ", slice " << slice);
        REQUIRE(error == "");
        REQUIRE(ringAllgather(0, size, count, slice).scratchCount == 0);
      }
    }
  }
}

TEST_CASE("ring schedules stay small", "[schedule]") {
  // Reduce-scatter: 3 steps per received slice and one send per slice; allgather: 2 per slice.
  const Schedule allreduce = ringAllreduce(3, 8, 8 * 1000, 100);
  CHECK(allreduce.steps.size() == 7 * 10 * 5);
  CHECK(allreduce.scratchCount == kRingScratchSlots * 100);
  const Schedule allgather = ringAllgather(3, 8, 1000, 100);
  CHECK(allgather.steps.size() == 10 + 7 * 10 * 2);  // one copy per slice of the own block
  // size 1 is a copy; nothing at all for count 0.
  CHECK(ringAllreduce(0, 1, 10, 4).steps.size() == 1);
  CHECK(ringAllreduce(0, 4, 0, 4).steps.empty());
  CHECK(ringAllgather(0, 4, 0, 4).steps.empty());
}

TEST_CASE("the checker reports broken schedules", "[schedule]") {
  const int size = 4;
  const std::size_t count = 40;
  auto allreduce = [=](int rank) { return ringAllreduce(rank, size, count, 4); };
  auto allgather = [=](int rank) { return ringAllgather(rank, size, count, 4); };
  REQUIRE(checkAllreduce(size, count, allreduce) == "");
  REQUIRE(checkAllgather(size, count, allgather) == "");

  SECTION("a missing dep is a data race") {
    // The second ring step forwards a reduced slice: drop its dep on that Reduce.
    const std::string error = checkAllreduce(size, count, mutated(allreduce, 1, [](Schedule& s) {
                                               for (auto& step : s.steps) {
                                                 if (step.kind == StepKind::Send && step.a.buffer == BufferId::Output) {
                                                   step.depCount = 0;
                                                   return;
                                                 }
                                               }
                                             }));
    INFO(error);
    CHECK(error.find("data race") != std::string::npos);
    CHECK(error.find("rank 1") != std::string::npos);
  }

  SECTION("a missing dep that only matters in place") {
    // The allgather receive into the own chunk must wait for the reduce-scatter send of Input.
    auto broken = mutated(allreduce, 2, [](Schedule& s) {
      const std::size_t firstSend = firstStepOf(s, StepKind::Send);
      for (auto& step : s.steps) {
        if (step.kind == StepKind::Recv && step.dst.buffer == BufferId::Output) {
          removeDep(step, static_cast<std::uint32_t>(firstSend));
        }
      }
    });
    CheckOptions outOfPlaceOnly;
    outOfPlaceOnly.inPlace = false;
    CHECK(checkAllreduce(size, count, broken, outOfPlaceOnly) == "");
    const std::string error = checkAllreduce(size, count, broken);
    INFO(error);
    CHECK(error.find("in place") == 0);
    CHECK(error.find("rank 2") != std::string::npos);
  }

  SECTION("a wrong peer") {
    const std::string error = checkAllreduce(
        size, count, mutated(allreduce, 0, [](Schedule& s) { s.steps[firstStepOf(s, StepKind::Send)].peer = 2; }));
    INFO(error);
    CHECK(error.find("message") != std::string::npos);
  }

  SECTION("an extra send") {
    const std::string error = checkAllgather(size, count, mutated(allgather, 3, [](Schedule& s) {
                                               s.add(sendStep(0, Span{BufferId::Input, 0, 1}));
                                             }));
    INFO(error);
    CHECK(error.find("rank 3") != std::string::npos);
    CHECK(error.find("no matching receive") != std::string::npos);
  }

  SECTION("messages of different lengths") {
    const std::string error = checkAllgather(
        size, count, mutated(allgather, 1, [](Schedule& s) { s.steps[firstStepOf(s, StepKind::Send)].a.count -= 1; }));
    INFO(error);
    CHECK(error.find("elements") != std::string::npos);
  }

  SECTION("a wrong final value") {
    // Rank 1 adds the received slice twice instead of its own input.
    const std::string error = checkAllreduce(size, count, mutated(allreduce, 1, [](Schedule& s) {
                                               Step& reduce = s.steps[firstStepOf(s, StepKind::Reduce)];
                                               reduce.a = reduce.b;
                                             }));
    INFO(error);
    CHECK(!error.empty());
  }

  SECTION("a wrong final value on one rank only") {
    // size 1: out = in op in instead of a copy.
    auto broken = [](int) {
      Schedule s;
      s.add(reduceStep(Span{BufferId::Output, 0, 5}, Span{BufferId::Input, 0, 5}, Span{BufferId::Input, 0, 5}));
      return s;
    };
    const std::string error = checkAllreduce(1, 5, broken);
    INFO(error);
    CHECK(error.find("output element 0 holds 2 contributions") != std::string::npos);
  }

  SECTION("a missing block in allgather") {
    const std::string error = checkAllgather(size, count, mutated(allgather, 2, [](Schedule& s) {
                                               // The first copy of the own block (the copies come last) goes to block
                                               // 0, not block 2.
                                               for (auto& step : s.steps) {
                                                 if (step.kind == StepKind::Copy) {
                                                   step.dst.offset -= 2 * count;
                                                   break;
                                                 }
                                               }
                                             }));
    INFO(error);
    CHECK(error.find("rank 2") != std::string::npos);
  }

  SECTION("finalize on a partial reduction, or none at all") {
    std::string error = checkAllreduce(size, count, mutated(allreduce, 0, [](Schedule& s) {
                                         s.steps[firstStepOf(s, StepKind::Reduce)].finalize = true;
                                       }));
    INFO(error);
    CHECK(error.find("finalizes a partial reduction") != std::string::npos);
    error = checkAllreduce(size, count, mutated(allreduce, 0, [](Schedule& s) {
                             for (auto& step : s.steps) step.finalize = false;
                           }));
    CHECK(error.find("without finalize") != std::string::npos);
  }

  SECTION("a deadlock") {
    // Both ranks wait to receive before they send.
    auto broken = [](int rank) {
      Schedule s;
      const auto recv = s.add(recvStep(1 - rank, Span{BufferId::Scratch, 0, 2}));
      Step send = sendStep(1 - rank, Span{BufferId::Input, 0, 2});
      send.dependOn(recv);
      const auto sent = s.add(send);
      Step reduce =
          reduceStep(Span{BufferId::Output, 0, 2}, Span{BufferId::Input, 0, 2}, Span{BufferId::Scratch, 0, 2}, true);
      reduce.dependOn(recv);
      reduce.dependOn(sent);
      s.add(reduce);
      s.scratchCount = 2;
      return s;
    };
    const std::string error = checkAllreduce(2, 2, broken);
    INFO(error);
    CHECK(error.find("deadlock") != std::string::npos);
  }

  SECTION("a span out of bounds and a forward dep") {
    std::string error = checkAllreduce(size, count, mutated(allreduce, 3, [](Schedule& s) { s.scratchCount = 8; }));
    CHECK(error.find("out of bounds") != std::string::npos);
    error = checkAllreduce(size, count, mutated(allreduce, 3, [](Schedule& s) {
                             s.steps[0].deps[0] = 5;
                             s.steps[0].depCount = 1;
                           }));
    CHECK(error.find("not an earlier step") != std::string::npos);
  }
}
