#pragma once
// BANYAN_TRACE: a Chrome trace-event file per rank and communicator (JSON array format), which
// Perfetto and chrome://tracing open; tools/banyan-trace-merge joins the ranks into one file.
//
// What is traced: each collective as a span from its start to its end (name "allreduce #5",
// with size and algorithm), and, for operations run as a schedule, every send and receive
// (from the moment it is handed to the transport to its completion, on a track per peer) and
// every local reduce or copy (on a track of its own). Spans on one track never overlap, as the
// format asks: several sends to one peer may be in flight at once, so a transfer's span starts
// at the later of its posting and the previous transfer's completion on its track, which is
// when it became the one the wire was working on (transfers to a peer complete in order). Operations the shared-memory
// engine runs show as one span; its inner rounds are not traced.
//
// The file is written as it goes, through stdio's buffer, with no closing "]" until the
// communicator closes: the array format allows a missing "]", so a rank that crashed still
// leaves a file that loads. Timestamps are wall-clock microseconds (CLOCK_REALTIME), so the
// ranks of one host line up exactly in a merged trace (across hosts, as well as their clocks
// agree). Only the driving thread calls a Tracer (it holds the driver lock), so it needs no lock.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace banyan::observe {

class Tracer {
 public:
  // Opens `path` (already expanded); throws Error(InvalidUsage) naming BANYAN_TRACE if it cannot.
  Tracer(const std::string& path, int rank, std::uint64_t communicator);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Microseconds on the trace's clock.
  static double now();

  // One operation at a time (the communicator runs them so): begun when it starts, with the
  // algorithm chosen, and ended when it ends.
  void beginOperation(std::string_view algorithm);
  void endOperation(std::uint64_t sequence, std::string_view kind, std::size_t bytes, bool ok);
  // A send (isSend) or receive with `peer`, posted at `start`, completed at `end`.
  void transfer(bool isSend, int peer, std::size_t bytes, std::uint64_t sequence, double start, double end);
  // A local step: "reduce" or "copy".
  void local(std::string_view what, std::size_t bytes, std::uint64_t sequence, double start, double end);

 private:
  void event(std::string_view name, std::string_view category, int track, double start, double end,
             const std::string& args);
  void nameTrack(int track, const std::string& name);

  std::FILE* file_ = nullptr;
  double operationStart_ = 0.0;
  std::string algorithm_;
  const int rank_;
  const std::uint64_t communicator_;
  std::vector<double> trackEnd_;  // per transfer track (2 per peer): the last span's end; 0: unnamed yet
};

}  // namespace banyan::observe
