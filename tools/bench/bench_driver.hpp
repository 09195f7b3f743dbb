#pragma once
// The sweep both benchmark tools run, written once over a small backend interface so that
// banyan and the MPI reference are measured by exactly the same steps.
//
// A Backend provides:
//   int rank() const; int size() const;
//   void run(const Call&);                    // one blocking collective
//   void runBatch(const Call&, int iters);    // `iters` collectives, returns when all are done
//                                             // (sendrecv: each call sends to rank + 1 and
//                                             // receives from rank - 1; in place, send == recv,
//                                             // the buffer is sent and then replaced)
//   void sync();                              // a tiny collective that every rank must enter
//   void maxOverRanks(double* values, int n); // in place, result on every rank
//   void sumOverRanks(std::int64_t* values, int n);
//   void allgatherBytes(const void* mine, void* all, std::size_t bytes);  // all = size() * bytes
//   const void* reduceScatterInPlaceResult(const Call&);  // where in-place reduce_scatter puts
//                                             // this rank's block (banyan: its own block of the
//                                             // buffer, as NCCL; MPI: the start of the buffer)

#include "tools/bench/bench_args.hpp"
#include "tools/bench/bench_data.hpp"
#include "tools/bench/bench_report.hpp"
#include "tools/bench/progress.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace banyan::bench {

// One call as the backend should issue it. The driver works out the pointers, so that both
// backends pass exactly the same buffers; in place they alias as banyan's API documents (for
// MPI the backend passes MPI_IN_PLACE where the standard wants it instead).
struct Call {
  Collective collective = Collective::allreduce;
  DataType type = DataType::f32;
  ReduceOp op = ReduceOp::sum;
  int root = 0;
  const void* send = nullptr;  // broadcast: unused (recv is its one buffer)
  void* recv = nullptr;
  std::size_t count = 0;  // the API's count: per rank (allgather, gather, scatter), per block
                          // (reduce_scatter), per peer (alltoall), the whole buffer otherwise
                          // (sendrecv: the message each rank sends and receives)
  bool inPlace = false;
};

namespace detail {

// Every rank's pid and host, for the header, as fixed-size records (pid, then the host name,
// truncated) gathered with the backend's own allgather.
template <typename Backend>
std::vector<RankInfo> gatherRankInfo(Backend& backend, const RankInfo& mine) {
  constexpr std::size_t kRecord = 72;
  std::vector<char> record(kRecord, 0);
  const long long pid = mine.pid;
  std::memcpy(record.data(), &pid, sizeof(pid));
  std::snprintf(record.data() + 8, kRecord - 8, "%s", mine.host.c_str());
  std::vector<char> all(kRecord * static_cast<std::size_t>(backend.size()));
  backend.allgatherBytes(record.data(), all.data(), kRecord);
  std::vector<RankInfo> ranks;
  for (int r = 0; r < backend.size(); ++r) {
    const char* p = all.data() + static_cast<std::size_t>(r) * kRecord;
    long long otherPid = 0;
    std::memcpy(&otherPid, p, sizeof(otherPid));
    ranks.push_back(RankInfo{r, static_cast<long>(otherPid), std::string(p + 8)});
  }
  return ranks;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<std::byte, FreeDeleter>;

inline Buffer allocatePages(std::size_t bytes) {
  constexpr std::size_t kPage = 4096;
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + kPage - 1) / kPage * kPage;
  void* p = std::aligned_alloc(kPage, rounded);
  if (p == nullptr) throw std::bad_alloc();
  return Buffer(static_cast<std::byte*>(p));
}

// One placement (out-of-place or in-place) of one size on one rank: the call, what must be
// copied into the receive buffer before it runs (in place, this rank's input), and where this
// rank's result is and how many elements it has (0: nothing to check on this rank, such as the
// receive buffer of a non-root for reduce and gather).
struct Placement {
  Call call;
  std::byte* prepare = nullptr;  // copy prepareCount elements of send here first
  std::size_t prepareCount = 0;
  const std::byte* result = nullptr;
  std::size_t resultCount = 0;
};

template <typename Backend>
Placement placeCall(Backend& backend, const BenchArgs& args, const SizePlan& plan, std::byte* send, std::byte* recv,
                    bool inPlace) {
  const int rank = backend.rank();
  const bool isRoot = rank == args.root;
  const std::size_t elem = elementSize(args.dataType);
  const std::size_t count = plan.callCount;
  const std::size_t own = static_cast<std::size_t>(rank) * count * elem;  // this rank's block
  Placement p;
  p.call = Call{args.collective, args.dataType, args.op, args.root, send, recv, count, inPlace};
  p.result = recv;
  p.resultCount = plan.recvCount;
  switch (args.collective) {
    case Collective::allreduce:
    case Collective::reduce:
      if (inPlace) {
        p.call.send = recv;
        p.prepare = recv;
        p.prepareCount = count;
      }
      if (args.collective == Collective::reduce && !isRoot) p.resultCount = 0;
      break;
    case Collective::allgather:
    case Collective::gather:
      if (inPlace && (args.collective == Collective::allgather || isRoot)) {
        p.call.send = recv + own;
        p.prepare = recv + own;
        p.prepareCount = count;
      }
      if (args.collective == Collective::gather && !isRoot) p.resultCount = 0;
      break;
    case Collective::reduce_scatter:
      if (inPlace) {  // the whole input in the receive buffer; the result replaces our block
        p.call.send = recv;
        p.call.recv = recv + own;
        p.prepare = recv;
        p.prepareCount = plan.sendCount;
        p.result = static_cast<const std::byte*>(backend.reduceScatterInPlaceResult(p.call));
      }
      break;
    case Collective::scatter:
      if (inPlace && isRoot) {  // the root's own block stays where it is in the send buffer
        p.call.recv = send + own;
        p.result = send + own;
      }
      break;
    case Collective::broadcast:
      // Out of place the root sends from its send buffer and the others receive into theirs,
      // which is nccl-tests' out-of-place broadcast without the root's local copy.
      if (inPlace && isRoot) {
        p.prepare = recv;
        p.prepareCount = count;
      }
      if (!inPlace && isRoot) p.call.recv = send;
      p.call.send = p.call.recv;
      p.result = static_cast<const std::byte*>(p.call.recv);
      break;
    case Collective::alltoall:
      break;  // out of place only (hasInPlace)
    case Collective::sendrecv:
      // In place is one buffer, sent and then replaced by what arrives (MPI_Sendrecv_replace;
      // see hasInPlace): the backend sees send == recv.
      if (inPlace) {
        p.call.send = recv;
        p.prepare = recv;
        p.prepareCount = count;
      }
      break;
  }
  return p;
}

inline std::string hostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

inline void printAndFlush(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);  // rows appear as they are measured; forked ranks _exit without flushing
}

}  // namespace detail

// Runs the sweep of `args` on `backend`; rank 0 prints the report (and writes -J). Returns the
// process exit code, the same on every rank: 0; 1 when a checked result was wrong; 2 when the
// -J file cannot be written.
template <typename Backend>
int runBenchmark(Backend& backend, const BenchArgs& args, const std::string& program, const std::string& library) {
  using Clock = std::chrono::steady_clock;
  const int rank = backend.rank();
  const int nranks = backend.size();
  if (args.root >= nranks) {
    // Every rank reaches this verdict; rank 0 speaks for all.
    if (rank == 0) {
      std::fprintf(stderr, "%s: -r/--root (%d) must be below the number of ranks (%d)\n", program.c_str(), args.root,
                   nranks);
    }
    return 2;
  }
  const std::size_t elem = elementSize(args.dataType);
  const std::vector<std::size_t> sizes = sweepSizes(args);
  if (sizes.empty()) throw std::invalid_argument("empty sweep");

  // Both buffers are allocated once at the largest size and touched here, before any timing:
  // the first touch of a page costs far more than moving it (about 12 us per 4 KiB page on
  // small VMs), and would otherwise be charged to the first iterations of each new size.
  // Both are as large as the larger of the two: in-place reduce_scatter keeps its whole input in
  // the receive buffer.
  const SizePlan largest = planSize(args.collective, sizes.back(), args.dataType, nranks);
  const std::size_t bufferCount = std::max(largest.sendCount, largest.recvCount);
  detail::Buffer send = detail::allocatePages(bufferCount * elem);
  detail::Buffer recv = detail::allocatePages(bufferCount * elem);
  const DataPattern pattern(args.collective, args.op, nranks, args.root);
  // Inputs do not depend on the size, so one fill serves the whole sweep, checked or not
  // (timing on well-formed numbers avoids denormal slowdowns in the reduction).
  if (args.digest) {
    fillMixed(send.get(), bufferCount, args.dataType, rank);
  } else {
    pattern.fillInput(send.get(), bufferCount, args.dataType, rank);
  }
  std::memset(recv.get(), 0xff, std::max<std::size_t>(bufferCount * elem, 1));

  // The JSON file is opened before the sweep, so that a bad path fails in a second rather than
  // after minutes of measuring; every rank learns of it and stops.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> json(nullptr, &std::fclose);
  std::int64_t jsonFailed = 0;
  if (rank == 0 && !args.jsonPath.empty()) {
    json.reset(std::fopen(args.jsonPath.c_str(), "w"));
    if (!json) {
      std::fprintf(stderr, "%s: cannot write %s: %s\n", program.c_str(), args.jsonPath.c_str(), std::strerror(errno));
      jsonFailed = 1;
    }
  }
  backend.sumOverRanks(&jsonFailed, 1);
  if (jsonFailed != 0) return 2;

  const std::vector<RankInfo> ranks =
      detail::gatherRankInfo(backend, RankInfo{rank, static_cast<long>(getpid()), detail::hostName()});
  Report report(ReportInfo{program, library, nranks, args});
  if (rank == 0) detail::printAndFlush(report.header(ranks));

  ProgressLine progress(rank == 0, fmt::format("{}: {} on {} ranks,", program, collectiveName(args.collective), nranks),
                        sizes, args.timeBudgetSeconds);  // quiet unless stderr is a terminal
  for (std::size_t sizeIndex = 0; sizeIndex < sizes.size(); ++sizeIndex) {
    const std::size_t sweepBytes = sizes[sizeIndex];
    progress.starting(sizeIndex);
    const SizePlan plan = planSize(args.collective, sweepBytes, args.dataType, nranks);
    double times[2] = {0, 0};
    int iters[2] = {0, 0};
    std::int64_t wrong[2] = {-1, -1};     // -1: not checked (or not measured)
    std::optional<std::uint64_t> digest;  // -D 1: of rank 0's out-of-place result
    for (int place = 0; place < 2; ++place) {
      const bool inPlace = place == 1;
      // A rank sending nothing (sizes below nranks elements where the size is split over the
      // ranks) has nothing to time, nor has a placement the collective lacks; the row is still
      // printed, as nccl-tests does, with zeros.
      if (plan.callCount == 0 || (inPlace && !hasInPlace(args.collective))) continue;
      const detail::Placement placement = detail::placeCall(backend, args, plan, send.get(), recv.get(), inPlace);
      const Call& call = placement.call;
      auto prepare = [&] {
        if (placement.prepareCount > 0) {
          std::memcpy(placement.prepare, send.get(), placement.prepareCount * elem);
        }
      };
      prepare();

      double lastWarmupSeconds = 0;
      for (int i = 0; i < args.warmupIters; ++i) {
        const auto warmupStart = Clock::now();
        backend.run(call);
        lastWarmupSeconds = std::chrono::duration<double>(Clock::now() - warmupStart).count();
      }
      iters[place] = args.iters;
      if (args.timeBudgetSeconds > 0 && args.warmupIters > 0) {
        // The last warmup call is past connection setup; the slowest rank's decides, so that
        // every rank runs the same number of calls.
        backend.maxOverRanks(&lastWarmupSeconds, 1);
        if (lastWarmupSeconds > 0) {
          const double fit = args.timeBudgetSeconds / lastWarmupSeconds;
          iters[place] = static_cast<int>(std::clamp(fit, 1.0, static_cast<double>(args.iters)));
        }
      }
      backend.sync();  // start together, so that no rank's time includes waiting for another
      const auto start = Clock::now();
      if (args.blocking) {
        for (int i = 0; i < iters[place]; ++i) backend.run(call);
      } else {
        backend.runBatch(call, iters[place]);
      }
      const std::chrono::duration<double, std::micro> elapsed = Clock::now() - start;
      times[place] = elapsed.count() / iters[place];

      if (args.check) {
        // Reset what the timed runs left so that only this call's result is checked.
        std::memset(recv.get(), 0xff, std::max(plan.sendCount, plan.recvCount) * elem);
        prepare();
        backend.run(call);
        wrong[place] = pattern.countWrong(placement.result, placement.resultCount, plan.callCount, args.dataType, rank);
      }
      if (args.digest && !inPlace) {
        // One more call from a reset buffer, so the digest is of that call's result alone.
        std::memset(recv.get(), 0xff, std::max(plan.sendCount, plan.recvCount) * elem);
        prepare();
        backend.run(call);
        if (rank == 0 && placement.resultCount > 0) digest = fnv1a64(placement.result, placement.resultCount * elem);
      }
    }
    backend.maxOverRanks(times, 2);
    // Unchecked is -1 on every rank alike; a sum of -1s stays negative, which means N/A.
    backend.sumOverRanks(wrong, 2);
    ResultRow row{plan, Measurement{times[0], wrong[0] < 0 ? -1 : wrong[0], iters[0]},
                  Measurement{times[1], wrong[1] < 0 ? -1 : wrong[1], iters[1]}, digest};
    const std::string line = report.addRow(row);
    progress.clear();
    if (rank == 0) detail::printAndFlush(line);
  }

  if (rank == 0) {
    detail::printAndFlush(report.footer());
    if (json) {
      const std::string text = report.json();
      const bool written = std::fwrite(text.data(), 1, text.size(), json.get()) == text.size();
      if (std::fclose(json.release()) != 0 || !written) {
        throw std::runtime_error(fmt::format("cannot write {}", args.jsonPath));
      }
    }
  }
  return report.wrongTotal() == 0 ? 0 : 1;
}

}  // namespace banyan::bench
