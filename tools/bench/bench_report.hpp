#pragma once
// The output of banyan-bench and banyan-bench-mpi, in the format of nccl-tests so that the
// numbers can be read (and parsed) the same way as GPU results. Optional JSON beside it (-J).

#include "tools/bench/bench_args.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace banyan::bench {

// What one size of the sweep runs, by nccl-tests' conventions. For allreduce, reduce,
// broadcast and sendrecv the sweep size is the buffer (sendrecv: what each rank sends, and
// receives). For the others it is the total per rank: what
// allgather and gather receive, what reduce_scatter and scatter send, what alltoall sends and
// receives; the per-rank (per-peer) block is size / elemsize / nranks elements, rounded down.
// The "size" column shows that total as actually moved and the "count" column the sweep size
// in elements, so small sizes can show size 0 when nranks does not divide them.
struct SizePlan {
  std::size_t sweepBytes = 0;  // the size from the sweep (-b ... -e)
  std::size_t count = 0;       // "count" column: sweepBytes / element size
  std::size_t callCount = 0;   // the count passed to the call (per rank, block or peer)
  std::size_t sendCount = 0;   // elements of the (largest) send buffer
  std::size_t recvCount = 0;   // elements of the (largest) receive buffer
  std::size_t bytes = 0;       // "size" column, what algbw is computed from
};
SizePlan planSize(Collective collective, std::size_t sweepBytes, DataType type, int nranks);

// Bus bandwidth = algorithm bandwidth * this: the fraction of the data each rank must move
// over its link with an optimal algorithm, which makes results comparable across rank counts.
double busBandwidthFactor(Collective collective, int nranks);
// GB/s (10^9 bytes per second) of `bytes` moved in `timeUs`; 0 when either is 0.
double algorithmBandwidth(std::size_t bytes, double timeUs);

struct RankInfo {
  int rank = 0;
  long pid = 0;
  std::string host;
};

// One measured variant (out-of-place or in-place) of one size.
struct Measurement {
  // Average time of one call in microseconds. Every rank measures its own average and the
  // report shows the slowest rank's; nccl-tests prints rank 0's, but a collective is only as
  // fast as its last rank, and the maximum does not depend on which rank happens to be first.
  double timeUs = 0;
  std::int64_t wrong = -1;  // elements that differ from the expected result, all ranks; -1: unchecked
  int iters = 0;            // timed iterations (fewer than -n when -T cut them)
};

struct ResultRow {
  SizePlan plan;
  Measurement outOfPlace;
  Measurement inPlace;
  // -D 1: FNV-1a 64 of rank 0's out-of-place result (nullopt: rank 0 has none, as a reduce's
  // non-root, or no -D).
  std::optional<std::uint64_t> digest;
};

struct ReportInfo {
  std::string program;  // "banyan-bench"
  std::string library;  // "banyan" or "openmpi"
  int nranks = 1;
  BenchArgs args;
};

class Report {
 public:
  explicit Report(ReportInfo info);

  // "# Collective test starting: ...", the parameters, one line per rank, the table header.
  std::string header(const std::vector<RankInfo>& ranks) const;
  // Formats a row and keeps it for footer() and json().
  std::string addRow(const ResultRow& row);
  // "# Out of bounds values : 0 OK" and "# Avg bus bandwidth    : X".
  std::string footer() const;
  // Every row with its context, as a JSON document.
  std::string json() const;

  std::int64_t wrongTotal() const;  // over all rows; 0 when unchecked
  double averageBusBandwidth() const;
  const std::vector<ResultRow>& rows() const { return rows_; }

  // The two header lines of the table, exactly as nccl-tests prints them.
  static std::string tableHeader();

 private:
  std::string formatMeasurement(const SizePlan& plan, const Measurement& m) const;

  ReportInfo info_;
  std::vector<ResultRow> rows_;
};

}  // namespace banyan::bench
