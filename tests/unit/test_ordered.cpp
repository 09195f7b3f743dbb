// The ordered schedules (deterministic mode): exact under the symbolic checker, and every
// element of the result is the left fold in rank order, whatever the slice size. The second
// part runs every rank's schedule over elements that are expressions ("((x0+x1)+x2)"), so the
// test sees which operands each Reduce combined, in which order, not only that every input
// was counted once (which is all the symbolic checker proves).

#include "algorithms/ordered.hpp"
#include "algorithms/ring.hpp"
#include "support/schedule_sweep.hpp"
#include "symbolic/symbolic.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

using namespace banyan::algorithms;

namespace {

enum class What { Allreduce, ReduceScatter, Reduce };

struct Rank {
  std::vector<std::string> input, output, scratch;
  bool inPlace = false;
  std::size_t outputBase = 0;  // in place: where Output starts in Input
};

// Elements of a span, as a reference into the rank's storage (Output aliases Input in place).
std::string& at(Rank& r, const Span& span, std::size_t i) {
  switch (span.buffer) {
    case BufferId::Input:
      return r.input.at(span.offset + i);
    case BufferId::Output:
      return r.inPlace ? r.input.at(r.outputBase + span.offset + i) : r.output.at(span.offset + i);
    case BufferId::Scratch:
      break;
  }
  return r.scratch.at(span.offset + i);
}

// Runs every rank's schedule to the end, in a fixed sweep order: a step runs when its deps
// have, messages are buffered per pair in order, and each rank posts its sends (and receives)
// to one peer in step order. Returns "" or what went wrong.
std::string run(std::vector<Rank>& ranks, const std::vector<Schedule>& schedules) {
  const int size = static_cast<int>(ranks.size());
  std::map<std::pair<int, int>, std::deque<std::vector<std::string>>> wire;
  std::vector<std::vector<bool>> done(ranks.size());
  for (std::size_t r = 0; r < ranks.size(); ++r) done[r].assign(schedules[r].steps.size(), false);
  for (bool progress = true; progress;) {
    progress = false;
    for (int r = 0; r < size; ++r) {
      const auto& steps = schedules[static_cast<std::size_t>(r)].steps;
      auto& mine = done[static_cast<std::size_t>(r)];
      Rank& rank = ranks[static_cast<std::size_t>(r)];
      for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& step = steps[i];
        if (mine[i]) continue;
        bool ready = true;
        for (int d = 0; d < step.depCount; ++d) ready = ready && mine[step.deps[static_cast<std::size_t>(d)]];
        for (std::size_t e = 0; ready && e < i; ++e) {
          const Step& earlier = steps[e];
          if (!mine[e] && earlier.kind == step.kind && earlier.peer == step.peer &&
              (step.kind == StepKind::Send || step.kind == StepKind::Recv))
            ready = false;
        }
        if (!ready) continue;
        if (step.kind == StepKind::Send) {
          std::vector<std::string> message;
          for (std::size_t e = 0; e < step.a.count; ++e) message.push_back(at(rank, step.a, e));
          wire[{r, step.peer}].push_back(std::move(message));
        } else if (step.kind == StepKind::Recv) {
          auto& queue = wire[{step.peer, r}];
          if (queue.empty()) continue;
          if (queue.front().size() != step.dst.count) return "a message of the wrong length";
          for (std::size_t e = 0; e < step.dst.count; ++e) at(rank, step.dst, e) = queue.front()[e];
          queue.pop_front();
        } else if (step.kind == StepKind::Reduce) {
          for (std::size_t e = 0; e < step.dst.count; ++e) {
            std::string value = "(";
            value.append(at(rank, step.a, e)).append("+").append(at(rank, step.b, e)).append(")");
            if (step.finalize) value.append("!");
            at(rank, step.dst, e) = value;
          }
        } else {
          for (std::size_t e = 0; e < step.dst.count; ++e) at(rank, step.dst, e) = at(rank, step.a, e);
        }
        mine[i] = true;
        progress = true;
      }
    }
  }
  for (const auto& steps : done) {
    for (bool d : steps) {
      if (!d) return "a step never ran (deadlock)";
    }
  }
  return "";
}

// "x3.7": rank 3's input element 7. Appends, not "x" + ...: g++ 12 at -O3 reports a false
// -Wrestrict for those (GCC bug 105651).
std::string term(int rank, std::size_t e) {
  std::string name = "x";
  name.append(std::to_string(rank)).append(".").append(std::to_string(e));
  return name;
}

// "((x0.e+x1.e)+x2.e)!": the left fold of element e over `size` ranks, finalized.
std::string fold(int size, std::size_t e) {
  std::string value = term(0, e);
  for (int q = 1; q < size; ++q) {
    std::string next = "(";
    next.append(value).append("+").append(term(q, e)).append(")");
    value = std::move(next);
  }
  if (size > 1) value.append("!");
  return value;
}

// Runs `what` over `size` ranks and checks every result element is fold(); "" or the defect.
using AllreduceMaker = Schedule (*)(int rank, int size, std::size_t count, std::size_t slice);

std::string checkOrder(What what, int size, std::size_t count, std::size_t slice, bool inPlace, int root = 0,
                       AllreduceMaker allreduce = orderedAllreduce) {
  const std::size_t inputCount = what == What::ReduceScatter ? count * static_cast<std::size_t>(size) : count;
  const std::size_t outputCount = count;
  std::vector<Rank> ranks(static_cast<std::size_t>(size));
  std::vector<Schedule> schedules;
  for (int r = 0; r < size; ++r) {
    Rank& rank = ranks[static_cast<std::size_t>(r)];
    const std::size_t blockBase = what == What::ReduceScatter ? static_cast<std::size_t>(r) * count : 0;
    for (std::size_t e = 0; e < inputCount; ++e) rank.input.push_back(term(r, e));
    const bool hasOutput = what != What::Reduce || r == root;
    rank.inPlace = inPlace && hasOutput;
    rank.outputBase = blockBase;
    rank.output.assign(hasOutput ? outputCount : 0, "?");
    switch (what) {
      case What::Allreduce:
        schedules.push_back(allreduce(r, size, count, slice));
        break;
      case What::ReduceScatter:
        schedules.push_back(orderedReduceScatter(r, size, count, slice));
        break;
      case What::Reduce:
        schedules.push_back(orderedReduce(r, size, root, count, slice));
        break;
    }
    rank.scratch.assign(schedules.back().scratchCount, "?");
  }
  if (std::string defect = run(ranks, schedules); !defect.empty()) return defect;
  for (int r = 0; r < size; ++r) {
    if (what == What::Reduce && r != root) continue;
    Rank& rank = ranks[static_cast<std::size_t>(r)];
    const std::size_t base = what == What::ReduceScatter ? static_cast<std::size_t>(r) * count : 0;
    for (std::size_t e = 0; e < outputCount; ++e) {
      const std::string got = at(rank, Span{BufferId::Output, 0, outputCount}, e);
      if (got != fold(size, base + e)) {
        std::string defect = "rank ";
        defect.append(std::to_string(r)).append(" element ").append(std::to_string(e)).append(": ").append(got);
        return defect;
      }
    }
  }
  return "";
}

}  // namespace

TEST_CASE("the ordered schedules are exact for 1..12 ranks, in and out of place", "[schedule][deterministic]") {
  using banyan::test::expectExactForAll;
  using banyan::test::expectExactForAllRoots;
  const auto sizes = banyan::test::sizesUpTo(12);
  for (std::size_t slice : {std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
    INFO("slice " << slice);
    expectExactForAll(checkAllreduce, sizes, {0, 1, 5, 37}, 43, [slice](int rank, int size, std::size_t count) {
      return orderedAllreduce(rank, size, count, slice);
    });
    expectExactForAll(checkReduceScatter, sizes, {0, 1, 7}, 47, [slice](int rank, int size, std::size_t count) {
      return orderedReduceScatter(rank, size, count, slice);
    });
    expectExactForAllRoots(checkReduce, sizes, {0, 1, 5, 37}, 6, 53,
                           [slice](int rank, int size, int root, std::size_t count) {
                             return orderedReduce(rank, size, root, count, slice);
                           });
  }
}

TEST_CASE("the ordered schedules fold every element in rank order, whatever the slice", "[schedule][deterministic]") {
  for (int size = 1; size <= 9; ++size) {
    for (std::size_t count : {std::size_t{1}, std::size_t{4}, std::size_t{23}}) {
      for (std::size_t slice : {std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{64}}) {
        for (bool inPlace : {false, true}) {
          INFO("size " << size << " count " << count << " slice " << slice << " in place " << inPlace);
          CHECK(checkOrder(What::Allreduce, size, count, slice, inPlace) == "");
          CHECK(checkOrder(What::ReduceScatter, size, count, slice, inPlace) == "");
          for (int root : {0, size / 2, size - 1}) {
            INFO("root " << root);
            CHECK(checkOrder(What::Reduce, size, count, slice, inPlace, root) == "");
          }
        }
      }
    }
  }
}

TEST_CASE("the ordered schedules keep Scratch bounded and refuse bad ranks", "[schedule][deterministic]") {
  // 4 ranks, 1M elements in slices of 1000: two accumulators and kOrderedRecvSlots slots.
  CHECK(orderedAllreduce(1, 4, 1'000'000, 1000).scratchCount == (2 + kOrderedRecvSlots) * 1000);
  CHECK(orderedReduceScatter(0, 64, 1 << 20, 4096).scratchCount == (2 + kOrderedRecvSlots) * 4096);
  CHECK_THROWS_AS(orderedAllreduce(4, 4, 10, 1), std::invalid_argument);
  CHECK_THROWS_AS(orderedReduce(0, 4, 4, 10, 1), std::invalid_argument);
  CHECK_THROWS_AS(orderedReduceScatter(0, 4, 10, 0), std::invalid_argument);
}

TEST_CASE("the fold-order check tells another order apart", "[schedule][deterministic]") {
  // The ring's allreduce is exact but folds each chunk starting from another rank.
  const std::string ring = checkOrder(What::Allreduce, 4, 8, 2, false, 0, ringAllreduce);
  CHECK_THAT(ring, Catch::Contains("element"));
  CHECK(checkOrder(What::Allreduce, 4, 8, 2, false, 0, orderedAllreduce) == "");
}
