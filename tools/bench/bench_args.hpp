#pragma once
// Command line of banyan-bench and banyan-bench-mpi: `<collective> [flags]`, with the flags of
// nccl-tests so that commands can be carried over from GPU runs unchanged.
//
// This library (bench_common) is linked by banyan-bench-mpi, which does not link libbanyan, so it
// only uses the enums of <banyan/types.hpp> (header-only) and keeps its own name tables.

#include <banyan/compression.hpp>
#include <banyan/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace banyan::bench {

// In nccl-tests' order of tests. Names: collectiveName() (nccl-tests' test names).
enum class Collective : std::uint8_t {
  allreduce,
  allgather,
  reduce_scatter,
  broadcast,
  reduce,
  alltoall,
  gather,
  scatter,
  sendrecv,  // point-to-point: each rank sends to rank + 1 and receives from rank - 1 (mod n)
};
inline constexpr int kCollectiveCount = 9;

// Whether the collective combines values with -o (the others only move them).
constexpr bool reduces(Collective c) {
  return c == Collective::allreduce || c == Collective::reduce || c == Collective::reduce_scatter;
}
// Whether the collective has a root (-r); the report's root column shows -1 for the others.
constexpr bool hasRoot(Collective c) {
  return c == Collective::broadcast || c == Collective::reduce || c == Collective::gather || c == Collective::scatter;
}
// Whether it has an in-place form in both banyan and MPI; alltoall has none in banyan, so
// its in-place column stays empty (zeros, #wrong N/A).
//
// sendrecv in place: nccl-tests passes one buffer as both the send and the receive buffer and
// leaves the result unchecked ("We don't support in-place sendrecv"): the receive may overwrite
// data the send has not read yet, so what arrives is undefined. The meaningful operation with one
// buffer is MPI_Sendrecv_replace: the buffer's contents go to rank + 1 and are replaced by what
// rank - 1 sent. That is what the in-place column measures, checked like out of place: the MPI
// reference calls MPI_Sendrecv_replace, and banyan-bench, banyan having no replace call, does
// what Open MPI's does inside: receive into a scratch buffer while sending from the user's, then
// copy the scratch buffer in (one extra copy of the message in either library; Open MPI
// allocates its scratch per call above 2 KiB, banyan-bench keeps one).
constexpr bool hasInPlace(Collective c) { return c != Collective::alltoall; }

struct BenchArgs {
  Collective collective = Collective::allreduce;
  // The sweep: sizes from minBytes to maxBytes, multiplied by stepFactor when it is > 1,
  // otherwise increased by stepBytes (the nccl-tests rule). Defaults are nccl-tests' own.
  std::size_t minBytes = 32u << 20;
  std::size_t maxBytes = 32u << 20;
  std::size_t stepBytes = 1u << 20;
  std::uint64_t stepFactor = 1;
  int iters = 20;
  int warmupIters = 5;
  bool check = true;  // -c 1: verify every result and report #wrong
  DataType dataType = DataType::f32;
  ReduceOp op = ReduceOp::sum;
  int root = 0;  // -r: the root of broadcast, reduce, gather and scatter (nccl-tests' default 0)
  // -z 1: every call waits for its result. -z 0: the timed iterations are all issued
  // asynchronously and waited for at the end (nccl-tests' default; matters for banyan only).
  bool blocking = true;
  // -T seconds (0: off): caps the timed iterations of each size and placement at about this
  // long, estimated from the last warmup iteration, so a sweep to large sizes stays short.
  // Not an nccl-tests flag; every rank runs the same count (the estimate is the slowest rank's).
  double timeBudgetSeconds = 0;
  std::optional<int> numRanks;  // -np N: launch N local ranks
  std::string jsonPath;         // -J file: also write every row as JSON
  // -D 1: seeded mixed-magnitude inputs (tools/bench/digest.hpp) and the digest of rank 0's
  // out-of-place result as the last column; floating types only, and no -c check.
  bool digest = false;
  // -Z none|bf16|fp16|int8: allreduce compressed to this format (banyan::Compression, with an
  // ErrorFeedback when blocking); f32 sum only; turns -c off (results are approximate: the
  // accuracy is tested in tests/multiproc/test_compression.cpp). banyan-bench only.
  CompressionFormat compression = CompressionFormat::none;
  bool help = false;  // -h: print usage and exit 0 (other fields left at defaults)
};

// Outcome of parsing: the arguments, or a message saying what is wrong (exit code 2).
struct ParseResult {
  std::optional<BenchArgs> args;
  std::string error;
  bool ok() const { return args.has_value(); }
};

// `argv` excludes the program name: {"allreduce", "-b", "8", ...}.
ParseResult parseBenchArgs(const std::vector<std::string_view>& argv);
ParseResult parseBenchArgs(int argc, const char* const* argv);  // argv[0] = program name

// The usage text, for -h and after an error. `program` names the tool.
std::string benchUsage(std::string_view program);

// "1024", "4K", "64M", "1G" (powers of 1024, case-insensitive, optional trailing B).
std::optional<std::size_t> parseByteSize(std::string_view text);

// The message sizes of the sweep in order; always includes minBytes, never exceeds maxBytes.
std::vector<std::size_t> sweepSizes(const BenchArgs& args);

// Names. The bench keeps its own tables (see the note at the top of this file).
std::string_view collectiveName(Collective collective);  // "allreduce", "reduce_scatter"
std::string_view dataTypeName(DataType type);            // "f32"
std::string_view ncclTypeName(DataType type);            // "float", as in nccl-tests' table
std::string_view reduceOpName(ReduceOp op);              // "sum"
std::size_t elementSize(DataType type);
std::optional<DataType> parseDataTypeName(std::string_view name);  // short and nccl names
std::optional<ReduceOp> parseReduceOpName(std::string_view name);

}  // namespace banyan::bench
