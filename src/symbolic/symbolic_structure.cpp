// Symbolic checker, part 1 + 2: each schedule on its own, then message matching.

#include "symbolic/symbolic_internal.hpp"

#include <algorithm>

namespace banyan::algorithms::symbolic {

namespace {

std::string checkSpan(const Setup& setup, int rank, std::uint32_t index, const Span& span, const char* role) {
  const std::size_t limit = setup.bufferCount(rank, span.buffer);
  if (span.count == 0) {
    return fmt::format("{}: empty {} span", setup.where(rank, index), role);
  }
  if (span.count > limit || span.offset > limit - span.count) {
    return fmt::format("{}: {} span is out of bounds (buffer has {} elements)", setup.where(rank, index), role, limit);
  }
  return {};
}

// Input is the caller's send buffer: schedules only read it. (In place, results still reach the
// shared memory, through Output spans.)
std::string checkDestination(const Setup& setup, int rank, std::uint32_t index, const Span& span) {
  if (span.buffer == BufferId::Input) {
    return fmt::format("{}: writes Input, which is read-only", setup.where(rank, index));
  }
  return checkSpan(setup, rank, index, span, "destination");
}

}  // namespace

std::string checkEachSchedule(Setup& setup) {
  const int size = setup.size;
  const auto n = static_cast<std::size_t>(size);
  setup.sends.assign(n, std::vector<std::vector<std::uint32_t>>(n));
  setup.recvs.assign(n, std::vector<std::vector<std::uint32_t>>(n));
  setup.messageIndex.assign(n, {});
  setup.dependentsBegin.assign(n, {});
  setup.dependents.assign(n, {});

  for (int rank = 0; rank < size; ++rank) {
    const auto r = static_cast<std::size_t>(rank);
    const auto& steps = setup.schedules[r].steps;
    setup.messageIndex[r].assign(steps.size(), kNone);
    std::vector<std::uint32_t> dependentCount(steps.size() + 1, 0);
    for (std::uint32_t i = 0; i < steps.size(); ++i) {
      const Step& step = steps[i];
      if (step.depCount > Step::kMaxDeps) {
        return fmt::format("{}: {} deps, more than {}", setup.where(rank, i), step.depCount, Step::kMaxDeps);
      }
      for (std::uint8_t d = 0; d < step.depCount; ++d) {
        if (step.deps[d] >= i) {
          return fmt::format("{}: depends on #{}, which is not an earlier step", setup.where(rank, i), step.deps[d]);
        }
        ++dependentCount[step.deps[d]];
      }
      std::string error;
      switch (step.kind) {
        case StepKind::Send:
        case StepKind::Recv: {
          if (step.peer < 0 || step.peer >= size || step.peer == rank) {
            return fmt::format("{}: invalid peer {}", setup.where(rank, i), step.peer);
          }
          const auto p = static_cast<std::size_t>(step.peer);
          auto& queue = step.kind == StepKind::Send ? setup.sends[r][p] : setup.recvs[r][p];
          setup.messageIndex[r][i] = static_cast<std::uint32_t>(queue.size());
          queue.push_back(i);
          error = step.kind == StepKind::Send ? checkSpan(setup, rank, i, step.a, "source")
                                              : checkDestination(setup, rank, i, step.dst);
          break;
        }
        case StepKind::Reduce:
          error = checkDestination(setup, rank, i, step.dst);
          if (error.empty()) error = checkSpan(setup, rank, i, step.a, "first operand");
          if (error.empty()) error = checkSpan(setup, rank, i, step.b, "second operand");
          if (error.empty() && (step.a.count != step.dst.count || step.b.count != step.dst.count)) {
            error = fmt::format("{}: operand lengths differ", setup.where(rank, i));
          }
          break;
        case StepKind::Copy:
          error = checkDestination(setup, rank, i, step.dst);
          if (error.empty()) error = checkSpan(setup, rank, i, step.a, "source");
          if (error.empty() && step.a.count != step.dst.count) {
            error = fmt::format("{}: source and destination lengths differ", setup.where(rank, i));
          }
          break;
      }
      if (!error.empty()) return error;
    }
    // Dependents, as compressed rows.
    auto& begin = setup.dependentsBegin[r];
    begin.assign(steps.size() + 1, 0);
    for (std::size_t i = 0; i < steps.size(); ++i) begin[i + 1] = begin[i] + dependentCount[i];
    auto& list = setup.dependents[r];
    list.assign(begin.back(), 0);
    std::vector<std::uint32_t> fill(begin.begin(), begin.end() - 1);
    for (std::uint32_t i = 0; i < steps.size(); ++i) {
      for (std::uint8_t d = 0; d < steps[i].depCount; ++d) list[fill[steps[i].deps[d]]++] = i;
    }
  }

  for (int a = 0; a < size; ++a) {
    for (int b = 0; b < size; ++b) {
      const auto& out = setup.sends[static_cast<std::size_t>(a)][static_cast<std::size_t>(b)];
      const auto& in = setup.recvs[static_cast<std::size_t>(b)][static_cast<std::size_t>(a)];
      const std::size_t common = std::min(out.size(), in.size());
      for (std::size_t k = 0; k < common; ++k) {
        const std::size_t sent = setup.step(a, out[k]).a.count;
        const std::size_t received = setup.step(b, in[k]).dst.count;
        if (sent != received) {
          return fmt::format(
              "{}: message {} to rank {} has {} elements, but its receive ({}) "
              "expects {}",
              setup.where(a, out[k]), k, b, sent, setup.where(b, in[k]), received);
        }
      }
      if (out.size() > common) {
        return fmt::format(
            "{}: send has no matching receive (rank {} receives {} messages from "
            "rank {}, rank {} sends {})",
            setup.where(a, out[common]), b, in.size(), a, a, out.size());
      }
      if (in.size() > common) {
        return fmt::format(
            "{}: receive has no matching send (rank {} sends {} messages to "
            "rank {}, rank {} receives {})",
            setup.where(b, in[common]), a, out.size(), b, b, in.size());
      }
    }
  }
  return {};
}

}  // namespace banyan::algorithms::symbolic
