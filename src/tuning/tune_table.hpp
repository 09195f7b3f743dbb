#pragma once
// BANYAN_TUNE_FILE: a measured tuning table, as NCCL's tuner plugins and oneCCL's tuning files
// give their users. banyan-algo-compare --tune-out measures every candidate of a collective in
// the same processes, per size, on the layout it runs on, and writes the fastest per size band;
// the selector then follows the table where it covers a call and the cost model elsewhere.
//
//   # comments and blank lines are ignored; a '#' ends a line's content
//   layout 2x2                          hosts x ranks per host the table was measured on
//   allreduce 0-2K recursive-doubling   COLLECTIVE LOW-HIGH ALGORITHM (LOW <= bytes < HIGH)
//   allreduce 2K-8K ring
//
// Sizes as BANYAN_ALGO's (65536, 64K, 4M), in the bytes choose() counts (allreduce: the whole
// buffer; allgather: one rank's block); names as BANYAN_ALGO's. One layout line before the
// first band (repeating the same layout is allowed, so tables of separate collectives can be
// concatenated); bands of one collective must not overlap; HIGH has no open form (a table
// only covers what it measured).
//
// Why the layout: a table measured on 2 hosts x 2 ranks says nothing about 4 hosts x 1 rank.
// A table whose layout differs from the communicator's is ignored (an INFO line says why) and
// the cost model decides, as without a table.

#include "common/collective.hpp"
#include "topology/topology.hpp"
#include "tuning/algo_override.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace banyan::tuning {

struct TuneEntry {
  Band band;
  int line = 0;  // in the file, for messages ("FILE:LINE")
};

struct TuneTable {
  std::string path;  // where it was read from
  int hosts = 0;
  int ranksPerHost = 0;
  std::vector<TuneEntry> entries;

  // Of the layout and the bands only (not comments or spelling): two files that choose alike
  // hash alike. Ranks compare it through the store (runtime/selector_setup.cpp).
  std::uint64_t hash() const;

  // "" when the table was measured on this topology's layout, else why not ("measured on
  // 2x2, this communicator is 4x1").
  std::string layoutMismatch(const topology::Topology& topology) const;

  // The entry covering `bytes` of `collective`, or nullptr.
  const TuneEntry* find(Collective collective, std::size_t bytes) const;
};

// Parses a table's text; `path` names it in errors. Throws Error(InvalidUsage) naming
// "path:line", quoting the line and saying what was expected.
TuneTable parseTuneTable(const std::string& text, const std::string& path);

// Reads and parses `path`; a file that cannot be read throws Error(InvalidUsage) naming it.
TuneTable loadTuneTable(const std::string& path);

// "2x2": how a layout line spells hosts x ranks per host.
std::string layoutName(int hosts, int ranksPerHost);

// The layout of `topology` as a table names it; {0, 0} when hosts hold different rank counts
// (no table can match it).
std::pair<int, int> layoutOf(const topology::Topology& topology);

}  // namespace banyan::tuning
