// Deterministic mode (Options::deterministic, BANYAN_DETERMINISTIC; docs/numerics.md): with
// inputs whose sums depend on the order of summation, allreduce, reduce_scatter and reduce give
// the same bits whatever algorithm is forced (Options::algo), whatever the size band, the slice
// size and the transport (tcp, the shm transport under schedules, the shared-memory engine), and
// those bits are the serial left fold in rank order computed here. Without the mode, the same
// calls give different bits for some pair of settings (shown over tcp), so the test can tell.
// Over libfabric too (ofi-tcp, 4 ranks) when banyan is built with it.
//
// Each rank checks its own results bit for bit against the serial fold; rank 0 also writes a
// digest of each result to a file, which the test process compares across every setting.

#include <unistd.h>

#include <banyan/banyan.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "support/files.hpp"
#include "support/multiproc.hpp"
#include "tools/bench/digest.hpp"

using namespace banyan;
using banyan::test::makeTempDir;
using banyan::test::over;
using banyan::test::runRanks;

namespace {

constexpr std::uint64_t kSeed = 2026;

// One way to configure a communicator: forced algorithms and a slice size.
struct Variant {
  std::string name;
  std::string algo;
  std::size_t sliceBytes = 0;  // 0: the default
};

std::vector<Variant> variants(int size, const std::string& transport) {
  const bool powerOfTwo = (size & (size - 1)) == 0;
  std::vector<Variant> all = {
      {"default", "", 0},
      {"ring", "allreduce:0-:ring;reduce_scatter:0-:ring;reduce:0-:chain", 0},
      {"rd", "allreduce:0-:recursive-doubling;reduce:0-:binomial-tree", 0},
      {"rabenseifner",
       std::string("allreduce:0-:rabenseifner") + (powerOfTwo ? ";reduce_scatter:0-:recursive-halving" : ""), 0},
      {"double-tree", "allreduce:0-:double-tree", 0},
      {"hierarchical", "allreduce:0-:hierarchical", 0},
      {"ring-slice64K", "allreduce:0-:ring;reduce_scatter:0-:ring;reduce:0-:chain", 64 * 1024},
  };
  if (transport == "shm") all.push_back({"shm-engine", "allreduce:0-:shm", 0});
  return all;
}

enum class Op { Allreduce, AllreduceAvg, AllreduceInPlace, ReduceScatter, Reduce };
const char* opName(Op op) {
  switch (op) {
    case Op::Allreduce:
      return "allreduce";
    case Op::AllreduceAvg:
      return "allreduce-avg";
    case Op::AllreduceInPlace:
      return "allreduce-in-place";
    case Op::ReduceScatter:
      return "reduce_scatter";
    case Op::Reduce:
      break;
  }
  return "reduce";
}

struct Call {
  Op op;
  DataType type;
  std::size_t count;  // allreduce, reduce: the vector; reduce_scatter: one block
};

// Small (recursive doubling's band), middle (above 16 KiB) and large (4 MiB of f32, 2 MiB of
// f64: the test's time), odd counts so blocks are uneven.
std::vector<Call> calls(int size) {
  std::vector<Call> all;
  for (DataType type : {DataType::f32, DataType::f64}) {
    const std::size_t element = type == DataType::f32 ? 4 : 8;
    const std::size_t large = type == DataType::f32 ? std::size_t{4} << 20 : std::size_t{2} << 20;
    for (std::size_t bytes : {std::size_t{1} << 10, std::size_t{48} << 10, large}) {
      const std::size_t count = bytes / element + 3;
      all.push_back({Op::Allreduce, type, count});
      all.push_back({Op::ReduceScatter, type, count / static_cast<std::size_t>(size)});
      all.push_back({Op::Reduce, type, count});
    }
    all.push_back({Op::AllreduceAvg, type, (std::size_t{48} << 10) / element + 3});
    all.push_back({Op::AllreduceInPlace, type, (std::size_t{48} << 10) / element + 3});
  }
  return all;
}

template <typename T>
std::vector<T> inputOf(int rank, std::size_t count) {
  std::vector<T> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = static_cast<T>(bench::mixedValue(kSeed, rank, i));
  return values;
}

// The serial left fold over ranks 0, 1, ..., size - 1 of elements [0, count), in T (avg: divided
// once at the end, as the schedules and the shared-memory engine do). Kept: every variant
// asks again.
template <typename T>
const std::vector<T>& serialFold(int size, std::size_t count, bool average) {
  static std::map<std::tuple<int, std::size_t, bool>, std::vector<T>> folds;
  auto [it, added] = folds.try_emplace({size, count, average});
  if (!added) return it->second;
  std::vector<T>& sum = it->second;
  sum = inputOf<T>(0, count);
  for (int r = 1; r < size; ++r) {
    const std::vector<T> x = inputOf<T>(r, count);
    for (std::size_t i = 0; i < count; ++i) sum[i] = sum[i] + x[i];
  }
  if (average) {
    for (T& v : sum) v = v / static_cast<T>(size);
  }
  return sum;
}

// This rank's input of `count` elements, kept as the folds are.
template <typename T>
const std::vector<T>& ownInput(int rank, std::size_t count) {
  static std::map<std::pair<int, std::size_t>, std::vector<T>> inputs;
  auto [it, added] = inputs.try_emplace({rank, count});
  if (added) it->second = inputOf<T>(rank, count);
  return it->second;
}

// Runs `call` on `comm`; returns this rank's result (empty where it has none: a reduce's
// non-root) and the serial fold's part it must equal.
// Bit-for-bit equality. A rank that receives nothing (reduce off the root, or an empty block)
// holds two empty vectors, whose data() may be null: memcmp must not see them (UBSan caught it).
template <typename T>
bool sameBits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

template <typename T>
std::pair<std::vector<T>, std::vector<T>> runCall(Communicator& comm, const Call& call) {
  const int size = comm.size(), rank = comm.rank();
  const std::size_t n = call.count;
  const std::size_t total = call.op == Op::ReduceScatter ? n * static_cast<std::size_t>(size) : n;
  const std::vector<T>& input = ownInput<T>(rank, total);
  const std::vector<T>& fold = serialFold<T>(size, total, call.op == Op::AllreduceAvg);
  std::vector<T> out(total);
  switch (call.op) {
    case Op::Allreduce:
    case Op::AllreduceAvg:
      comm.allreduce(input.data(), out.data(), n, call.type, call.op == Op::Allreduce ? ReduceOp::sum : ReduceOp::avg);
      return {out, fold};
    case Op::AllreduceInPlace:
      out = input;
      comm.allreduce(out.data(), n, call.type, ReduceOp::sum);
      return {out, fold};
    case Op::ReduceScatter:
      out.resize(n);
      comm.reduceScatter(input.data(), out.data(), n, call.type, ReduceOp::sum);
      return {out, std::vector<T>(fold.begin() + static_cast<std::ptrdiff_t>(rank * n),
                                  fold.begin() + static_cast<std::ptrdiff_t>((rank + 1) * n))};
    case Op::Reduce:
      comm.reduce(input.data(), out.data(), n, call.type, ReduceOp::sum, 0);
      if (rank != 0) return {};
      return {out, fold};
  }
  return {};
}

std::string key(const Call& call) {
  return std::string(opName(call.op)) + "/" + (call.type == DataType::f32 ? "f32" : "f64") + "/" +
         std::to_string(call.count);
}

// One rank's part: every variant, deterministic and not, every call. Returns 0 or 1.
int runVariants(int rank, int size, const std::string& transport, const std::string& digestPath) {
  std::FILE* digests = rank == 0 ? std::fopen(digestPath.c_str(), "w") : nullptr;
  RANK_EXPECT(rank, rank != 0 || digests != nullptr);
  for (const Variant& variant : variants(size, transport)) {
    for (bool deterministic : {true, false}) {
      if (!deterministic && transport != "tcp") continue;  // one transport shows the default's spread
      Options options;
      options.algo = variant.algo;
      options.deterministic = deterministic;
      if (variant.sliceBytes != 0) options.sliceBytes = variant.sliceBytes;
      auto comm = Communicator::fromEnvironment(options);
      for (const Call& call : calls(size)) {
        const auto digestOf = [](const auto& v) { return bench::fnv1a64(v.data(), v.size() * sizeof(v[0])); };
        std::uint64_t got = 0;
        bool equal = true;
        if (call.type == DataType::f32) {
          const auto [result, fold] = runCall<float>(comm, call);
          got = digestOf(result);
          equal = sameBits(result, fold);
        } else {
          const auto [result, fold] = runCall<double>(comm, call);
          got = digestOf(result);
          equal = sameBits(result, fold);
        }
        if (deterministic && !equal) {
          std::fprintf(stderr, "rank %d: %s %s %s: not the serial rank-order fold\n", rank, transport.c_str(),
                       variant.name.c_str(), key(call).c_str());
          return 1;
        }
        if (digests) {
          std::fprintf(digests, "%d %s %s %s %016llx\n", deterministic ? 1 : 0, transport.c_str(), variant.name.c_str(),
                       key(call).c_str(), static_cast<unsigned long long>(got));
        }
      }
    }
  }
  if (digests) std::fclose(digests);
  return 0;
}

template <typename T>
std::uint64_t referenceDigest(int size, const Call& call) {
  const std::size_t n = call.count;
  const std::size_t total = call.op == Op::ReduceScatter ? n * static_cast<std::size_t>(size) : n;
  std::vector<T> fold = serialFold<T>(size, total, call.op == Op::AllreduceAvg);
  if (call.op == Op::ReduceScatter) fold.resize(n);  // rank 0's block
  return bench::fnv1a64(fold.data(), fold.size() * sizeof(T));
}

}  // namespace

TEST_CASE("deterministic mode: the same bits whatever the algorithm, size band, slice and transport",
          "[multiproc][deterministic]") {
  const std::string dir = makeTempDir("banyan-deterministic");
  for (int size : {5, 4}) {
    // digests[deterministic][call] = the digests seen across transports and variants
    std::map<std::string, std::set<std::string>> seen[2];
    std::vector<std::string> transports = {"tcp", "shm-messages", "shm"};
#ifdef BANYAN_HAVE_OFI
    if (size == 4 && banyan::test::transportSelected("ofi-tcp")) transports.push_back("ofi-tcp");  // time
#endif
    for (const std::string& transport : transports) {
      const std::string path = dir + "/" + std::to_string(size) + "-" + transport + ".txt";
      bootstrap::LaunchOptions options = over(transport);
      options.environment["BANYAN_ALGO"] = "allreduce:0-:ring";  // Options::algo replaces it
      runRanks(
          size, [&](int rank) { return runVariants(rank, size, transport, path); }, options);
      std::ifstream file(path);
      int deterministic = 0;
      std::string t, variant, call, digest;
      while (file >> deterministic >> t >> variant >> call >> digest) seen[deterministic][call].insert(digest);
      std::remove(path.c_str());
    }
    INFO(size << " ranks");
    REQUIRE(seen[1].size() == calls(size).size());
    for (const Call& call : calls(size)) {
      const std::uint64_t reference =
          call.type == DataType::f32 ? referenceDigest<float>(size, call) : referenceDigest<double>(size, call);
      char text[17];
      std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(reference));
      INFO(key(call));
      CHECK(seen[1][key(call)] == std::set<std::string>{text});
    }
    // Without the mode, some call gives different bits under different settings.
    std::size_t differing = 0;
    for (const auto& [call, digests] : seen[0]) differing += digests.size() > 1 ? 1 : 0;
    INFO(differing << " of " << seen[0].size() << " calls differ between settings without the mode");
    CHECK(differing > 0);
  }
  rmdir(dir.c_str());
}

TEST_CASE("deterministic mode says once that it overrides BANYAN_ALGO, and which algorithm runs",
          "[multiproc][deterministic]") {
  const std::string dir = makeTempDir("banyan-deterministic-log");
  const std::string path = dir + "/rank0.log";
  bootstrap::LaunchOptions options = over("tcp");
  options.environment["BANYAN_ALGO"] = "allreduce:0-:ring;reduce:0-:chain";
  options.environment["BANYAN_DETERMINISTIC"] = "1";
  options.environment["BANYAN_DEBUG"] = "info";
  options.environment["BANYAN_DEBUG_SUBSYS"] = "tuning";
  runRanks(
      3,
      [&](int rank) {
        RANK_EXPECT(rank, std::freopen(rank == 0 ? path.c_str() : "/dev/null", "w", stderr) != nullptr);
        auto comm = Communicator::fromEnvironment();
        std::vector<double> data(1000, 1.0 + rank), out(1000);
        comm.allreduce(data.data(), out.data(), data.size(), DataType::f64, ReduceOp::sum);
        comm.reduce(data.data(), out.data(), data.size(), DataType::f64, ReduceOp::sum, 0);
        std::fflush(stderr);
        return 0;
      },
      options);
  const std::string log = test::readFile(path);
  std::remove(path.c_str());
  rmdir(dir.c_str());
  INFO(log);
  const std::string line = "BANYAN_DETERMINISTIC: allreduce, reduce_scatter and reduce fold in rank order";
  const auto first = log.find(line);
  CHECK(first != std::string::npos);
  CHECK(log.find(line, first + 1) == std::string::npos);  // once
  CHECK(log.find("allreduce of 8000 B per rank uses ordered (deterministic)") != std::string::npos);
  CHECK(log.find(": reduce of 8000 B per rank uses ordered (deterministic)") != std::string::npos);
  CHECK(log.find("uses ring") == std::string::npos);
}
