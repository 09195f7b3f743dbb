// banyan-bench: nccl-tests style benchmark of banyan's collectives.
//
//   banyan-bench allreduce -np 4 -b 8 -e 64M -f 2       launches 4 local ranks
//   RANK=.. WORLD_SIZE=.. MASTER_ADDR=.. MASTER_PORT=.. banyan-bench allgather ...
//                                                       one rank of a torchrun-style job
//   mpirun -np 4 banyan-bench allreduce ...               one rank per MPI process (MPI only
//                                                       bootstraps; banyan moves the data)
//
// banyan-bench-mpi measures MPI with the same flags and output; bench/run.sh runs both.

#include <banyan/communicator.hpp>
#include <banyan/error.hpp>
#include <banyan/work.hpp>

#include "bootstrap/local_launcher.hpp"
#ifdef BANYAN_BENCH_HAVE_MPI
#include <banyan/mpi.hpp>
#endif
#include "tools/bench/bench_args.hpp"
#include "tools/bench/bench_driver.hpp"
#include "tools/bench/bench_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace banyan;
using namespace banyan::bench;

constexpr const char* kProgram = "banyan-bench";

// A sweep to 64M on a small VM takes minutes; a hung rank is caught much earlier by the
// communicator's own timeout (BANYAN_TIMEOUT), so this only bounds the pathological case.
constexpr std::chrono::minutes kLaunchDeadline{60};

class BanyanBackend {
 public:
  BanyanBackend(Communicator& comm, CompressionFormat compression) : comm_(comm), compression_(compression) {}

  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }

  // In place the Call's pointers alias as the API documents for each collective.
  void run(const Call& c) {
    switch (c.collective) {
      case Collective::allreduce:
        comm_.allreduce(c.send, c.recv, c.count, c.type, c.op, compression(c.count, true));
        break;
      case Collective::allgather:
        comm_.allgather(c.send, c.recv, c.count, c.type);
        break;
      case Collective::reduce_scatter:
        comm_.reduceScatter(c.send, c.recv, c.count, c.type, c.op);
        break;
      case Collective::broadcast:
        comm_.broadcast(c.recv, c.count, c.type, c.root);
        break;
      case Collective::reduce:
        comm_.reduce(c.send, c.recv, c.count, c.type, c.op, c.root);
        break;
      case Collective::alltoall:
        comm_.alltoall(c.send, c.recv, c.count, c.type);
        break;
      case Collective::gather:
        comm_.gather(c.send, c.recv, c.count, c.type, c.root);
        break;
      case Collective::scatter:
        comm_.scatter(c.send, c.recv, c.count, c.type, c.root);
        break;
      case Collective::sendrecv:
        sendrecv(c);
        break;
    }
  }

  // -z 0: every iteration is issued before the first is waited for, so per-call overheads
  // that the runtime can overlap do not count (nccl-tests' non-blocking mode).
  void runBatch(const Call& call, int iters) {
    if (call.collective == Collective::sendrecv && call.inPlace) {
      // Each replace must have sent the buffer before the next one's receive overwrites it,
      // so in place they cannot overlap; they run one after another (as MPI's do).
      for (int i = 0; i < iters; ++i) sendrecv(call);
      return;
    }
    std::vector<Work> works;
    works.reserve(static_cast<std::size_t>(iters));
    for (int i = 0; i < iters; ++i) works.push_back(issue(call));
    for (const Work& work : works) work.wait();
  }

  // Banyan's in-place reduceScatter leaves the result in this rank's own block, where the
  // Call's recv points.
  const void* reduceScatterInPlaceResult(const Call& call) const { return call.recv; }

  void sync() {
    std::int32_t value = 0;
    comm_.allreduce(&value, 1, DataType::i32, ReduceOp::sum);
  }

  void maxOverRanks(double* values, int n) {
    comm_.allreduce(values, static_cast<std::size_t>(n), DataType::f64, ReduceOp::max);
  }

  void sumOverRanks(std::int64_t* values, int n) {
    comm_.allreduce(values, static_cast<std::size_t>(n), DataType::i64, ReduceOp::sum);
  }

  void allgatherBytes(const void* mine, void* all, std::size_t bytes) {
    comm_.allgather(mine, all, bytes, DataType::u8);
  }

 private:
  // -Z: blocking calls feed back through one ErrorFeedback (rebound when the size changes), as
  // a training step would; with -z 0 the calls in flight cannot share one, so none is kept.
  Compression compression(std::size_t count, bool blocking) {
    if (compression_ == CompressionFormat::none) return {};
    if (residual_.residual().size() != count) residual_.reset();
    return Compression{compression_, blocking ? &residual_ : nullptr};
  }

  Work issue(const Call& c) {
    switch (c.collective) {
      case Collective::allreduce:
        return comm_.allreduceAsync(c.send, c.recv, c.count, c.type, c.op, compression(c.count, false));
      case Collective::allgather:
        return comm_.allgatherAsync(c.send, c.recv, c.count, c.type);
      case Collective::reduce_scatter:
        return comm_.reduceScatterAsync(c.send, c.recv, c.count, c.type, c.op);
      case Collective::broadcast:
        return comm_.broadcastAsync(c.recv, c.count, c.type, c.root);
      case Collective::reduce:
        return comm_.reduceAsync(c.send, c.recv, c.count, c.type, c.op, c.root);
      case Collective::alltoall:
        return comm_.alltoallAsync(c.send, c.recv, c.count, c.type);
      case Collective::gather:
        return comm_.gatherAsync(c.send, c.recv, c.count, c.type, c.root);
      case Collective::scatter:
        return comm_.scatterAsync(c.send, c.recv, c.count, c.type, c.root);
      case Collective::sendrecv:
        return postSendRecv(c.send, c.recv, c);
    }
    throw std::invalid_argument("invalid collective");
  }

  // nccl-tests' sendrecv: one group of a send to rank + 1 and a receive from rank - 1, so both
  // are posted before either is waited for (every rank sends first and would otherwise wait
  // for a receive its neighbour has not posted yet, above the eager size).
  Work postSendRecv(const void* send, void* recv, const Call& c) {
    const int n = comm_.size();
    const int to = (comm_.rank() + 1) % n;
    const int from = (comm_.rank() - 1 + n) % n;
    comm_.groupStart();
    comm_.sendAsync(send, c.count, c.type, to, kSendRecvTag);
    comm_.recvAsync(recv, c.count, c.type, from, kSendRecvTag);
    return comm_.groupEnd();
  }

  // Out of place: the group above. In place (send == recv): replace semantics, the way Open
  // MPI's MPI_Sendrecv_replace does it, so that the two columns cost the same work: receive
  // into a scratch buffer while the send reads the user's, then copy the scratch buffer in.
  void sendrecv(const Call& c) {
    if (!c.inPlace) {
      postSendRecv(c.send, c.recv, c).wait();
      return;
    }
    const std::size_t bytes = c.count * elementSize(c.type);
    if (scratchBytes_ < bytes) {  // grows once per larger size, in the warmup calls
      scratch_ = bench::detail::allocatePages(bytes);
      scratchBytes_ = bytes;
    }
    postSendRecv(c.send, scratch_.get(), c).wait();
    std::memcpy(c.recv, scratch_.get(), bytes);
  }

  static constexpr int kSendRecvTag = 0;
  Communicator& comm_;
  CompressionFormat compression_;
  ErrorFeedback residual_;
  bench::detail::Buffer scratch_;
  std::size_t scratchBytes_ = 0;
};

// One rank: join the job (`join` makes the communicator) and run the sweep.
template <typename Join>
int runRank(const BenchArgs& args, Join&& join) {
  int rank = -1;
  try {
    // BANYAN_BENCH_SETUP_TIME=1: rank 0 prints how long joining took, up to a first barrier
    // (which opens the connections the barrier's pairs use), for bench/auth.sh.
    const char* setup = std::getenv("BANYAN_BENCH_SETUP_TIME");
    const auto start = std::chrono::steady_clock::now();
    Communicator comm = join();
    rank = comm.rank();
    if (setup != nullptr && std::string(setup) == "1") {
      comm.barrier();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (rank == 0) std::printf("# setup: communicator created and first barrier done in %.2f ms\n", ms);
    }
    BanyanBackend backend(comm, args.compression);
    const int code = runBenchmark(backend, args, kProgram, "banyan");
    comm.close();
    return code;
  } catch (const std::exception& e) {
    if (rank >= 0) {
      std::fprintf(stderr, "%s: rank %d: %s\n", kProgram, rank, e.what());
    } else {
      std::fprintf(stderr, "%s: %s\n", kProgram, e.what());
    }
    std::fflush(stderr);
    return 1;
  }
}

int launchRanks(const BenchArgs& args) {
  bootstrap::LaunchOptions options;
  options.deadline = kLaunchDeadline;
  // Bind rank r to core r mod cores, as bench/ runs the Open MPI reference (mpirun
  // --bind-to core:overload-allowed); BANYAN_BENCH_BIND=0 turns it off. Unbound, 4 ranks on 2
  // cores swing between about 3 and 20 us per 8 B allreduce from run to run (the scheduler's
  // placement; bench/RESULTS.md), bound they stay at 2.6-3.4 us.
  const char* bind = std::getenv("BANYAN_BENCH_BIND");
  options.bindToCores = bind == nullptr || std::string(bind) != "0";
  // Flush before forking so nothing buffered here is printed once per child.
  std::fflush(stdout);
  std::fflush(stderr);
  const std::vector<bootstrap::RankExit> exits = bootstrap::launchLocal(
      *args.numRanks, [&](int) { return runRank(args, [] { return Communicator::fromEnvironment(); }); }, options);
  // Ranks print their own errors and verdicts. When every rank ended the same ordinary way
  // (0; 1: wrong results or an error; 2: usage) that code is the answer; anything else (a
  // signal, the deadline, disagreeing ranks) is reported here.
  const int first = exits.empty() ? 1 : exits.front().exitCode;
  const bool uniform = std::all_of(exits.begin(), exits.end(), [&](const bootstrap::RankExit& e) {
    return e.signal == 0 && !e.killedAtDeadline && e.exitCode == first;
  });
  if (uniform) return first;
  int code = 1;
  for (const bootstrap::RankExit& exit : exits) {
    if (!exit.ok()) std::fprintf(stderr, "%s: %s\n", kProgram, exit.describe().c_str());
  }
  return code;
}

bool hasEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0';
}

}  // namespace

int main(int argc, char** argv) {
  const ParseResult parsed = parseBenchArgs(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s: %s\n%s", kProgram, parsed.error.c_str(), benchUsage(kProgram).c_str());
    return 2;
  }
  const BenchArgs& args = *parsed.args;
  if (args.help) {
    std::printf("%s", benchUsage(kProgram).c_str());
    return 0;
  }
  try {
    if (args.numRanks) return launchRanks(args);
    // A plain srun step (no PMIx) has no MPI to bootstrap with: banyan reads SLURM_* itself.
    const bool slurmStep = hasEnv("SLURM_PROCID") && (hasEnv("SLURM_STEP_ID") || hasEnv("SLURM_STEPID"));
    if (hasEnv("BANYAN_RANK") || (hasEnv("RANK") && hasEnv("WORLD_SIZE")) || (slurmStep && !hasEnv("PMIX_RANK"))) {
      return runRank(args, [] { return Communicator::fromEnvironment(); });
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProgram, e.what());
    return 1;
  }
  if (hasEnv("OMPI_COMM_WORLD_RANK") || hasEnv("PMI_RANK") || hasEnv("PMIX_RANK")) {
#ifdef BANYAN_BENCH_HAVE_MPI
    // Under mpirun: MPI only bootstraps (rank 0 serves the store, its address is broadcast);
    // every measured byte goes through banyan.
    MPI_Init(&argc, &argv);
    const int code = runRank(args, [] { return mpi::createCommunicator(MPI_COMM_WORLD); });
    MPI_Finalize();
    return code;
#else
    // Without MPI in this build, a PMIx launcher's server carries the bootstrap instead.
    if (hasEnv("PMIX_RANK")) return runRank(args, [] { return Communicator::fromEnvironment(); });
    std::fprintf(stderr,
                 "%s: this build has no MPI support (Open MPI was not found at build time): start it "
                 "with -np N or with the torchrun variables RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT.\n",
                 kProgram);
    return 2;
#endif
  }
  std::fprintf(stderr,
               "%s: no ranks to run: pass -np N to launch N local ranks, or set RANK, WORLD_SIZE, "
               "MASTER_ADDR, MASTER_PORT (torchrun) or BANYAN_RANK, BANYAN_SIZE, "
               "BANYAN_STORE_ADDR for each rank\n%s",
               kProgram, benchUsage(kProgram).c_str());
  return 2;
}
