#pragma once
// The progress line of a long sweep: on a terminal, rank 0 keeps one line on stderr saying
// which size runs and about how long the rest will take; when stderr is not a terminal (a
// pipe, a file, CI) it prints nothing, so logs stay clean.
//
// Time left is the time so far scaled by the work left, counting a size's work as its bytes
// plus a fixed 64 KiB (small sizes cost their latency, not their bytes); with a time budget
// (-T) no size counts for more than its budget. A guess, which the next size corrects.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace banyan::bench {

class ProgressLine {
 public:
  ProgressLine(bool enabled, std::string what, std::vector<std::size_t> sizes, double budgetSeconds)
      : enabled_(enabled && isatty(STDERR_FILENO) == 1),
        what_(std::move(what)),
        sizes_(std::move(sizes)),
        budget_(budgetSeconds),
        start_(std::chrono::steady_clock::now()) {}

  // Size `index` of the sweep starts. The cursor goes back to the line's start, so that a row
  // arriving late through a pipe (make bench tees stdout) overwrites the line, rows being longer.
  void starting(std::size_t index) {
    if (!enabled_) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double done = 0, left = 0;
    for (std::size_t i = 0; i < sizes_.size(); ++i) (i < index ? done : left) += work(sizes_[i]);
    std::string eta = "estimating time left";
    if (index > 0 && done > 0) {
      double seconds = elapsed * left / done;
      // Two placements per size, each within its budget (plus warmup), when there is one.
      if (budget_ > 0) seconds = std::min(seconds, static_cast<double>(sizes_.size() - index) * 2 * (budget_ + 1));
      eta = seconds < 90 ? fmt::format("~{:.0f} s left", seconds) : fmt::format("~{:.1f} min left", seconds / 60);
    }
    const std::string line =
        fmt::format("\r{} {} B ({} of {} sizes), {}\x1b[K\r", what_, sizes_[index], index + 1, sizes_.size(), eta);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }

  // Before a row goes to stdout (the same terminal, usually): the line is wiped first.
  void clear() {
    if (!enabled_) return;
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
  }

 private:
  static double work(std::size_t bytes) { return static_cast<double>(bytes) + 64.0 * 1024; }

  const bool enabled_;
  const std::string what_;
  const std::vector<std::size_t> sizes_;
  const double budget_;
  const std::chrono::steady_clock::time_point start_;
};

}  // namespace banyan::bench
