// banyan-bench-mpi: the MPI reference for banyan-bench. Run under mpirun, it measures
// MPI_Allreduce, MPI_Allgather, MPI_Reduce_scatter_block, MPI_Bcast, MPI_Reduce, MPI_Alltoall,
// MPI_Gather, MPI_Scatter and MPI_Sendrecv (MPI_Sendrecv_replace in place) with the same flags,
// steps and output as banyan-bench, so the two tables can be put side by side (bench/run.sh and
// bench/compare.sh do).

#include "tools/bench/bench_args.hpp"
#include "tools/bench/bench_driver.hpp"
#include "tools/bench/bench_report.hpp"

#include <fmt/format.h>

// The C API only: the deprecated C++ bindings add nothing here and warn under -Wextra.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace banyan;
using namespace banyan::bench;

constexpr const char* kProgram = "banyan-bench-mpi";
#ifdef OPEN_MPI
constexpr const char* kLibrary = "openmpi";
#else
constexpr const char* kLibrary = "mpi";
#endif

std::optional<MPI_Datatype> mpiType(DataType type) {
  switch (type) {
    case DataType::f32:
      return MPI_FLOAT;
    case DataType::f64:
      return MPI_DOUBLE;
    case DataType::i8:
      return MPI_INT8_T;
    case DataType::u8:
      return MPI_UINT8_T;
    case DataType::i32:
      return MPI_INT32_T;
    case DataType::i64:
      return MPI_INT64_T;
    case DataType::i16:
      return MPI_INT16_T;
    case DataType::f16:
    case DataType::bf16:
      return std::nullopt;  // MPI has no 16-bit float types
  }
  return std::nullopt;
}

std::optional<MPI_Op> mpiOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return MPI_SUM;
    case ReduceOp::prod:
      return MPI_PROD;
    case ReduceOp::min:
      return MPI_MIN;
    case ReduceOp::max:
      return MPI_MAX;
    case ReduceOp::avg:
      return std::nullopt;  // no MPI equivalent
    case ReduceOp::band:
      return MPI_BAND;
    case ReduceOp::bor:
      return MPI_BOR;
    case ReduceOp::bxor:
      return MPI_BXOR;
  }
  return std::nullopt;
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw std::runtime_error(fmt::format("{} failed: {}", what, text));
}

class MpiBackend {
 public:
  MpiBackend(MPI_Comm comm, MPI_Datatype type, MPI_Op op) : comm_(comm), type_(type), op_(op) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }

  int rank() const { return rank_; }
  int size() const { return size_; }

  // MPI spells in place MPI_IN_PLACE rather than by aliasing; the Call's aliased pointers say
  // which buffer holds the data.
  void run(const Call& c) {
    const int count = static_cast<int>(c.count);
    const bool isRoot = rank_ == c.root;
    switch (c.collective) {
      case Collective::allreduce:
        check(MPI_Allreduce(c.inPlace ? MPI_IN_PLACE : c.send, c.recv, count, type_, op_, comm_), "MPI_Allreduce");
        break;
      case Collective::allgather:
        if (c.inPlace) {
          check(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, c.recv, count, type_, comm_), "MPI_Allgather");
        } else {
          check(MPI_Allgather(c.send, count, type_, c.recv, count, type_, comm_), "MPI_Allgather");
        }
        break;
      case Collective::reduce_scatter:
        // In place MPI takes the whole input in recvbuf (c.send) and leaves the result at its start.
        check(c.inPlace ? MPI_Reduce_scatter_block(MPI_IN_PLACE, const_cast<void*>(c.send), count, type_, op_, comm_)
                        : MPI_Reduce_scatter_block(c.send, c.recv, count, type_, op_, comm_),
              "MPI_Reduce_scatter_block");
        break;
      case Collective::broadcast:
        check(MPI_Bcast(c.recv, count, type_, c.root, comm_), "MPI_Bcast");
        break;
      case Collective::reduce:
        check(MPI_Reduce(c.inPlace && isRoot ? MPI_IN_PLACE : c.send, c.recv, count, type_, op_, c.root, comm_),
              "MPI_Reduce");
        break;
      case Collective::alltoall:
        check(MPI_Alltoall(c.send, count, type_, c.recv, count, type_, comm_), "MPI_Alltoall");
        break;
      case Collective::gather:
        check(
            MPI_Gather(c.inPlace && isRoot ? MPI_IN_PLACE : c.send, count, type_, c.recv, count, type_, c.root, comm_),
            "MPI_Gather");
        break;
      case Collective::scatter:
        check(
            MPI_Scatter(c.send, count, type_, c.inPlace && isRoot ? MPI_IN_PLACE : c.recv, count, type_, c.root, comm_),
            "MPI_Scatter");
        break;
      case Collective::sendrecv: {
        // To rank + 1, from rank - 1, as nccl-tests' sendrecv. In place, the one buffer is sent
        // and replaced by what arrives (MPI_Sendrecv_replace; bench_args.hpp says why).
        const int to = (rank_ + 1) % size_;
        const int from = (rank_ - 1 + size_) % size_;
        if (c.inPlace) {
          check(MPI_Sendrecv_replace(c.recv, count, type_, to, kTag, from, kTag, comm_, MPI_STATUS_IGNORE),
                "MPI_Sendrecv_replace");
        } else {
          check(
              MPI_Sendrecv(c.send, count, type_, to, kTag, c.recv, count, type_, from, kTag, comm_, MPI_STATUS_IGNORE),
              "MPI_Sendrecv");
        }
        break;
      }
    }
  }

  const void* reduceScatterInPlaceResult(const Call& call) const { return call.send; }

  // -z only changes how banyan is driven; MPI's blocking calls are the reference either way.
  void runBatch(const Call& call, int iters) {
    for (int i = 0; i < iters; ++i) run(call);
  }

  // The same tiny allreduce banyan-bench uses, rather than MPI_Barrier, so that both tools
  // start their timed loops the same way.
  void sync() {
    int value = 0;
    check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_SUM, comm_), "MPI_Allreduce");
  }

  void maxOverRanks(double* values, int n) {
    check(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_MAX, comm_), "MPI_Allreduce");
  }

  void sumOverRanks(std::int64_t* values, int n) {
    check(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_INT64_T, MPI_SUM, comm_), "MPI_Allreduce");
  }

  void allgatherBytes(const void* mine, void* all, std::size_t bytes) {
    check(MPI_Allgather(mine, static_cast<int>(bytes), MPI_CHAR, all, static_cast<int>(bytes), MPI_CHAR, comm_),
          "MPI_Allgather");
  }

 private:
  static constexpr int kTag = 0;
  MPI_Comm comm_;
  MPI_Datatype type_;
  MPI_Op op_;
  int rank_ = 0;
  int size_ = 1;
};

// Every rank parses the same arguments and reaches the same verdict; rank 0 speaks for all.
int usageError(int rank, const std::string& message, bool showUsage) {
  if (rank == 0) {
    std::fprintf(stderr, "%s: %s\n", kProgram, message.c_str());
    if (showUsage) std::fprintf(stderr, "%s", benchUsage(kProgram).c_str());
  }
  return 2;
}

int runMain(int argc, char** argv, int rank) {
  const ParseResult parsed = parseBenchArgs(argc, argv);
  if (!parsed.ok()) return usageError(rank, parsed.error, true);
  const BenchArgs& args = *parsed.args;
  if (args.help) {
    if (rank == 0) std::printf("%s", benchUsage(kProgram).c_str());
    return 0;
  }
  if (args.numRanks) {
    return usageError(rank, "-np is for banyan-bench; start this tool with mpirun -np N", false);
  }
  if (args.compression != CompressionFormat::none) {
    return usageError(rank, "-Z is for banyan-bench; MPI has no compressed allreduce", false);
  }
  const auto type = mpiType(args.dataType);
  if (!type) {
    return usageError(rank,
                      fmt::format("datatype {} is not supported by the MPI reference (MPI has "
                                  "no 16-bit float types)",
                                  dataTypeName(args.dataType)),
                      false);
  }
  // Only the reducing collectives use the op, so an unsupported op only matters for them.
  std::optional<MPI_Op> op = MPI_SUM;
  if (reduces(args.collective)) op = mpiOp(args.op);
  if (!op) {
    return usageError(rank,
                      fmt::format("op {} is not supported by the MPI reference (MPI has no "
                                  "average)",
                                  reduceOpName(args.op)),
                      false);
  }
  // MPI counts are int; refuse sizes that would not fit instead of wrapping.
  if (args.maxBytes / elementSize(args.dataType) > static_cast<std::size_t>(INT32_MAX)) {
    return usageError(rank, "-e/--maxbytes is too large for MPI's int counts", false);
  }
  MpiBackend backend(MPI_COMM_WORLD, *type, *op);
  return runBenchmark(backend, args, kProgram, kLibrary);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  // Errors come back as codes so they can be reported with the rank, not as an abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int code = 0;
  try {
    code = runMain(argc, argv, rank);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: rank %d: %s\n", kProgram, rank, e.what());
    std::fflush(stderr);
    // The other ranks may be blocked in a collective with this one; only an abort frees them.
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
  }
  MPI_Finalize();
  return code;
}
