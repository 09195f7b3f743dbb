// The schedule data model: appending steps, recording dependencies, and printing a schedule
// one step a line for tests, error messages and banyan-topo. See schedule.hpp for the terms.

#include "algorithms/schedule.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace banyan::algorithms {

void Step::dependOn(std::uint32_t index) {
  for (std::uint8_t i = 0; i < depCount; ++i) {
    if (deps[i] == index) return;
  }
  if (depCount >= kMaxDeps) {
    // A generator bug, not a runtime condition: schedules are built by our own code.
    throw std::logic_error(fmt::format("schedule step has more than {} dependencies", kMaxDeps));
  }
  deps[depCount++] = index;
}

std::uint32_t Schedule::add(const Step& step) {
  const auto index = static_cast<std::uint32_t>(steps.size());
  for (std::uint8_t i = 0; i < step.depCount; ++i) {
    if (step.deps[i] >= index) {
      throw std::logic_error(
          fmt::format("schedule step #{} depends on #{}, which is not earlier", index, step.deps[i]));
    }
  }
  steps.push_back(step);
  return index;
}

Step sendStep(int peer, Span what) {
  Step step;
  step.kind = StepKind::Send;
  step.peer = peer;
  step.a = what;
  return step;
}

Step recvStep(int peer, Span into) {
  Step step;
  step.kind = StepKind::Recv;
  step.peer = peer;
  step.dst = into;
  return step;
}

Step reduceStep(Span dst, Span a, Span b, bool finalize) {
  Step step;
  step.kind = StepKind::Reduce;
  step.dst = dst;
  step.a = a;
  step.b = b;
  step.finalize = finalize;
  return step;
}

Step copyStep(Span dst, Span from) {
  Step step;
  step.kind = StepKind::Copy;
  step.dst = dst;
  step.a = from;
  return step;
}

namespace {

const char* bufferName(BufferId buffer) {
  switch (buffer) {
    case BufferId::Input:
      return "in";
    case BufferId::Output:
      return "out";
    case BufferId::Scratch:
      return "scr";
  }
  return "?";
}

std::string spanText(const Span& span) {
  return fmt::format("{}[{},+{}]", bufferName(span.buffer), span.offset, span.count);
}

}  // namespace

std::string describeStep(const Step& step, std::size_t index) {
  std::string text = fmt::format("#{} ", index);
  switch (step.kind) {
    case StepKind::Send:
      text += fmt::format("send to {} <- {}", step.peer, spanText(step.a));
      break;
    case StepKind::Recv:
      text += fmt::format("recv from {} -> {}", step.peer, spanText(step.dst));
      break;
    case StepKind::Reduce:
      text += fmt::format("reduce {} = {} op {}", spanText(step.dst), spanText(step.a), spanText(step.b));
      if (step.finalize) text += " finalize";
      break;
    case StepKind::Copy:
      text += fmt::format("copy {} = {}", spanText(step.dst), spanText(step.a));
      break;
  }
  for (std::uint8_t i = 0; i < step.depCount; ++i) {
    text += fmt::format("{}#{}", i == 0 ? " after " : ", ", step.deps[i]);
  }
  return text;
}

std::string describe(const Schedule& schedule) {
  std::string text;
  for (std::size_t i = 0; i < schedule.steps.size(); ++i) {
    text += describeStep(schedule.steps[i], i);
    text += '\n';
  }
  if (schedule.scratchCount != 0) {
    text += fmt::format("scratch: {} elements\n", schedule.scratchCount);
  }
  return text;
}

}  // namespace banyan::algorithms
