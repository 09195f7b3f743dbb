#pragma once
// A schedule is one rank's part of a collective, as data: an ordered list of steps over
// buffer ranges. Algorithms (this folder) generate schedules and never touch a socket; the
// executor (src/runtime/) runs them; tests check them symbolically (src/symbolic/symbolic.hpp).
//
// Terms
//   span     a range of elements (not bytes) in one of the three buffers of an operation:
//            Input (the caller's send buffer), Output (the receive buffer) and Scratch (a
//            buffer the communicator owns and reuses across calls; Schedule::scratchCount
//            says how many elements it needs). For in-place calls Input and Output alias.
//   step     Send a span to a peer, Recv a span from a peer, Reduce (dst = a op b,
//            element-wise; dst may be exactly a or b), or Copy (dst = a).
//   deps     indices of earlier steps of the same schedule that must have completed before
//            this step starts. The executor starts every step whose deps are met, so deps are
//            the whole truth about ordering within a rank: a step that reads a span must
//            depend on the step that wrote it, and a step that overwrites a span must depend
//            on every earlier step that reads it.
//   order    between two ranks, messages match in order: the k-th Send from rank a to rank b
//            is received by the k-th Recv on rank b from rank a, and both have the same
//            length. The executor posts Sends (and Recvs) to one peer in step-index order.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace banyan::algorithms {

enum class BufferId : std::uint8_t { Input, Output, Scratch };

struct Span {
  BufferId buffer = BufferId::Input;
  std::size_t offset = 0;  // in elements
  std::size_t count = 0;   // in elements
};

enum class StepKind : std::uint8_t { Send, Recv, Reduce, Copy };

struct Step {
  static constexpr int kMaxDeps = 4;

  StepKind kind = StepKind::Copy;
  int peer = -1;          // Send, Recv
  Span dst;               // Recv, Reduce, Copy
  Span a;                 // Send (what is sent), Copy (source), Reduce (first operand)
  Span b;                 // Reduce (second operand)
  bool finalize = false;  // Reduce: dst now holds the complete reduction (avg divides here)
  std::uint8_t depCount = 0;
  std::array<std::uint32_t, kMaxDeps> deps{};

  // Adds a dependency on step `index` (must be earlier); ignores duplicates.
  void dependOn(std::uint32_t index);
};

struct Schedule {
  std::vector<Step> steps;
  std::size_t scratchCount = 0;  // elements of Scratch the schedule uses

  // Appends a step and returns its index.
  std::uint32_t add(const Step& step);
};

// Step constructors, so generators read like the algorithm.
Step sendStep(int peer, Span what);
Step recvStep(int peer, Span into);
Step reduceStep(Span dst, Span a, Span b, bool finalize = false);
Step copyStep(Span dst, Span from);

// Human-readable dump, one step a line ("#3 recv from 2 -> out[16,+8] after #1"), for tests
// and for banyan-topo.
std::string describe(const Schedule& schedule);

// One line of describe(), without the newline: step `index` of a schedule.
std::string describeStep(const Step& step, std::size_t index);

}  // namespace banyan::algorithms
