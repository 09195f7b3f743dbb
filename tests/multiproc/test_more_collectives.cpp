// reduceScatter, broadcast, reduce, gather, scatter, alltoall and barrier over real processes,
// on every transport, checked byte for byte against a reference computed here. Over "shm" all
// but reduce and barrier run in the shared-memory engine (intrahost/): small blocks through its
// arena, large ones read straight from their owners; with process_vm_readv off, everything
// through the arena, in several rounds for the large ones. Counts cover empty, single, fewer
// than ranks, a small odd count (the latency algorithms) and about a million elements (the
// bandwidth algorithms).

#include "reduce/reduce.hpp"
#include "support/multiproc.hpp"
#include "support/reference.hpp"

#include <banyan/banyan.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace banyan;
using banyan::test::over;
using banyan::test::runRanks;

namespace {

using Bytes = std::vector<std::uint8_t>;

// Bytes the collective must overwrite start as this, so a missed element shows.
constexpr std::uint8_t kUnset = 0xa5;

constexpr DataType kReduceTypes[] = {DataType::f32, DataType::f64, DataType::i32, DataType::bf16};
constexpr ReduceOp kOps[] = {ReduceOp::sum, ReduceOp::max, ReduceOp::avg};
// Moving collectives only copy bytes: one type per element size.
constexpr DataType kMoveTypes[] = {DataType::f32, DataType::f64, DataType::bf16};

// What rank `rank` holds at element `index` for the collectives that move data: distinct
// across ranks and neighbouring elements, and exact in every type used (|v| <= 127 fits bf16).
double moveValue(int rank, std::size_t index) {
  return static_cast<double>((static_cast<std::size_t>(rank + 1) * 1000003u + index * 7u) % 255) - 127;
}

// Element `i` of `buffer` for i < count := moveValue(rank, first + i).
void fillMoved(DataType type, void* buffer, int rank, std::size_t first, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) test::storeValue(type, buffer, i, moveValue(rank, first + i));
}

std::uint8_t* at(Bytes& bytes, std::size_t element, DataType type) {
  return bytes.data() + element * dataTypeSize(type);
}

// One rank's view of one test: reports the first wrong element on stderr.
struct Checker {
  Communicator& comm;
  int rank;
  int n;

  bool same(const Bytes& actual, const Bytes& expected, DataType type, const std::string& what) const {
    for (std::size_t i = 0; i < expected.size(); ++i) {
      if (actual[i] != expected[i]) {
        std::fprintf(stderr, "rank %d of %d: %s: element %zu wrong\n", rank, n, what.c_str(), i / dataTypeSize(type));
        return false;
      }
    }
    return true;
  }

  static std::string label(const char* name, std::size_t count, DataType type, const std::string& extra) {
    return std::string(name) + " count " + std::to_string(count) + " " + std::string(toString(type)) + extra;
  }

  bool reduceScatter(std::size_t count, DataType type, ReduceOp op, bool inPlace) const {
    const std::size_t e = dataTypeSize(type);
    Bytes input(n * count * e), expectedAll(n * count * e);
    test::fillInput(op, type, rank, input.data(), n * count);
    for (std::size_t i = 0; i < n * count; ++i) test::storeExpected(op, type, n, expectedAll.data(), i);
    const std::size_t own = static_cast<std::size_t>(rank) * count;
    const auto what = label("reduceScatter", count, type,
                            std::string(" ") + std::string(toString(op)) + (inPlace ? " in place" : " out of place"));
    if (inPlace) {
      // The result replaces this rank's block; the other blocks keep their input.
      Bytes expected = input;
      // count 0 leaves both vectors empty: their data() may be null, which memcpy may not see.
      if (count > 0) std::memcpy(at(expected, own, type), at(expectedAll, own, type), count * e);
      comm.reduceScatter(input.data(), count, type, op);
      return same(input, expected, type, what);
    }
    Bytes output(count * e, kUnset);
    comm.reduceScatter(input.data(), output.data(), count, type, op);
    return same(output, Bytes(at(expectedAll, own, type), at(expectedAll, own + count, type)), type, what);
  }

  bool broadcast(std::size_t count, DataType type, int root) const {
    const std::size_t e = dataTypeSize(type);
    Bytes buffer(count * e, kUnset), expected(count * e);
    fillMoved(type, expected.data(), root, 0, count);
    if (rank == root) buffer = expected;
    comm.broadcast(buffer.data(), count, type, root);
    return same(buffer, expected, type, label("broadcast", count, type, " root " + std::to_string(root)));
  }

  bool reduce(std::size_t count, DataType type, ReduceOp op, int root, bool inPlace) const {
    const std::size_t e = dataTypeSize(type);
    Bytes input(count * e), expected(count * e);
    test::fillInput(op, type, rank, input.data(), count);
    for (std::size_t i = 0; i < count; ++i) test::storeExpected(op, type, n, expected.data(), i);
    const Bytes original = input;
    const auto what = label("reduce", count, type,
                            std::string(" ") + std::string(toString(op)) + " root " + std::to_string(root) +
                                (inPlace ? " in place" : " out of place"));
    if (inPlace) {
      comm.reduce(input.data(), count, type, op, root);
      return same(input, rank == root ? expected : original, type, what);
    }
    // Off the root there is no receive buffer at all.
    Bytes output(count * e, kUnset);
    comm.reduce(input.data(), rank == root ? output.data() : nullptr, count, type, op, root);
    if (!same(input, original, type, what + " (send buffer)")) return false;
    return rank != root || same(output, expected, type, what);
  }

  bool gather(std::size_t count, DataType type, int root, bool inPlace) const {
    const std::size_t e = dataTypeSize(type);
    Bytes send(count * e), recv(rank == root ? n * count * e : 0, kUnset), expected(n * count * e);
    fillMoved(type, send.data(), rank, 0, count);
    for (int r = 0; r < n; ++r) fillMoved(type, at(expected, r * count, type), r, 0, count);
    const auto what =
        label("gather", count, type, " root " + std::to_string(root) + (inPlace ? " in place" : " out of place"));
    if (inPlace && rank == root) {
      if (count > 0) std::memcpy(at(recv, root * count, type), send.data(), count * e);
      comm.gather(at(recv, root * count, type), recv.data(), count, type, root);
    } else {
      comm.gather(send.data(), rank == root ? recv.data() : nullptr, count, type, root);
    }
    return rank != root || same(recv, expected, type, what);
  }

  bool scatter(std::size_t count, DataType type, int root, bool inPlace) const {
    const std::size_t e = dataTypeSize(type);
    Bytes send(rank == root ? n * count * e : 0), recv(count * e, kUnset), expected(count * e);
    if (rank == root) fillMoved(type, send.data(), root, 0, n * count);
    fillMoved(type, expected.data(), root, static_cast<std::size_t>(rank) * count, count);
    const auto what =
        label("scatter", count, type, " root " + std::to_string(root) + (inPlace ? " in place" : " out of place"));
    if (inPlace && rank == root) {
      // The root's own block stays where it is, and nothing else of its buffer changes.
      const Bytes original = send;
      comm.scatter(send.data(), at(send, root * count, type), count, type, root);
      return same(send, original, type, what);
    }
    comm.scatter(rank == root ? send.data() : nullptr, recv.data(), count, type, root);
    return same(recv, expected, type, what);
  }

  bool alltoall(std::size_t count, DataType type) const {
    const std::size_t e = dataTypeSize(type);
    Bytes send(n * count * e), recv(n * count * e, kUnset), expected(n * count * e);
    fillMoved(type, send.data(), rank, 0, n * count);
    for (int p = 0; p < n; ++p) {
      fillMoved(type, at(expected, p * count, type), p, static_cast<std::size_t>(rank) * count, count);
    }
    comm.alltoall(send.data(), recv.data(), count, type);
    return same(recv, expected, type, label("alltoall", count, type, ""));
  }

  // Every Async form at once, waited for together: they run in issue order.
  bool asyncMix(std::size_t count) const {
    const DataType type = DataType::f32;
    const std::size_t e = dataTypeSize(type);
    const int root = n - 1;
    Bytes rsIn(n * count * e), rsOut(count * e, kUnset), rsAll(n * count * e);
    test::fillInput(ReduceOp::sum, type, rank, rsIn.data(), n * count);
    for (std::size_t i = 0; i < n * count; ++i) test::storeExpected(ReduceOp::sum, type, n, rsAll.data(), i);
    Bytes bcast(count * e, kUnset), bcastExpected(count * e);
    fillMoved(type, bcastExpected.data(), root, 0, count);
    if (rank == root) bcast = bcastExpected;
    Bytes redIn(count * e), redOut(count * e, kUnset), redExpected(count * e);
    test::fillInput(ReduceOp::max, type, rank, redIn.data(), count);
    for (std::size_t i = 0; i < count; ++i) test::storeExpected(ReduceOp::max, type, n, redExpected.data(), i);
    Bytes a2aIn(n * count * e), a2aOut(n * count * e, kUnset), a2aExpected(n * count * e);
    fillMoved(type, a2aIn.data(), rank, 0, n * count);
    for (int p = 0; p < n; ++p) {
      fillMoved(type, at(a2aExpected, p * count, type), p, static_cast<std::size_t>(rank) * count, count);
    }
    std::vector<Work> works;
    works.push_back(comm.reduceScatterAsync(rsIn.data(), rsOut.data(), count, type, ReduceOp::sum));
    works.push_back(comm.broadcastAsync(bcast.data(), count, type, root));
    works.push_back(comm.reduceAsync(redIn.data(), redOut.data(), count, type, ReduceOp::max, root));
    works.push_back(comm.barrierAsync());
    works.push_back(comm.alltoallAsync(a2aIn.data(), a2aOut.data(), count, type));
    // Then gather the broadcast result onto rank 0 and scatter it out again, as a second batch.
    Bytes gathered(n * count * e, kUnset), scattered(count * e, kUnset);
    for (auto& work : works) work.wait();
    works.clear();
    works.push_back(comm.gatherAsync(bcast.data(), gathered.data(), count, type, 0));
    works.push_back(comm.scatterAsync(gathered.data(), scattered.data(), count, type, 0));
    for (auto& work : works) work.wait();
    const std::size_t own = static_cast<std::size_t>(rank) * count;
    if (!same(rsOut, Bytes(at(rsAll, own, type), at(rsAll, own + count, type)), type, "async reduceScatter")) {
      return false;
    }
    if (!same(bcast, bcastExpected, type, "async broadcast")) return false;
    if (rank == root && !same(redOut, redExpected, type, "async reduce")) return false;
    if (!same(a2aOut, a2aExpected, type, "async alltoall")) return false;
    return same(scattered, bcastExpected, type, "async gather then scatter");
  }
};

int checkEverything(Communicator& comm) {
  const Checker check{comm, comm.rank(), comm.size()};
  const int n = comm.size();
  std::vector<int> roots{0};
  if (n > 1) roots.push_back(n - 1);
  std::vector<std::size_t> counts{0, 1};
  if (n > 2) counts.push_back(static_cast<std::size_t>(n - 1));  // fewer elements than ranks
  counts.push_back(37);
  for (std::size_t count : counts) {
    for (DataType type : kReduceTypes) {
      for (ReduceOp op : kOps) {
        for (bool inPlace : {false, true}) {
          if (!check.reduceScatter(count, type, op, inPlace)) return 1;
          for (int root : roots) {
            if (!check.reduce(count, type, op, root, inPlace)) return 1;
          }
        }
      }
    }
    for (DataType type : kMoveTypes) {
      for (int root : roots) {
        if (!check.broadcast(count, type, root)) return 1;
        for (bool inPlace : {false, true}) {
          if (!check.gather(count, type, root, inPlace)) return 1;
          if (!check.scatter(count, type, root, inPlace)) return 1;
        }
      }
      if (!check.alltoall(count, type)) return 1;
    }
  }

  // About a million elements in the largest buffer, odd so nothing divides evenly, and a root
  // in the middle: the pipelined and direct algorithms.
  constexpr std::size_t kLarge = (std::size_t{1} << 20) + 3;
  const std::size_t perRank = kLarge / static_cast<std::size_t>(n) + 1;
  const int mid = n / 2;
  if (!check.reduceScatter(perRank, DataType::f32, ReduceOp::sum, false)) return 1;
  if (!check.reduceScatter(perRank, DataType::bf16, ReduceOp::avg, true)) return 1;
  if (!check.broadcast(kLarge, DataType::f32, mid)) return 1;
  if (!check.reduce(kLarge, DataType::f32, ReduceOp::sum, mid, false)) return 1;
  if (!check.reduce(kLarge, DataType::i32, ReduceOp::avg, mid, true)) return 1;
  if (!check.gather(perRank, DataType::f32, mid, false)) return 1;
  if (!check.scatter(perRank, DataType::f32, mid, true)) return 1;
  if (!check.alltoall(perRank, DataType::f32)) return 1;

  return check.asyncMix(37) ? 0 : 1;
}

}  // namespace

TEST_CASE("reduceScatter, broadcast, reduce, gather, scatter and alltoall are exact", "[multiproc][more]") {
  const std::string transport = BANYAN_EACH_TRANSPORT_AND_OFI();
  const int ranks = GENERATE(1, 2, 3, 4, 5, 6, 7, 8);
  SECTION(transport + ", " + std::to_string(ranks) + " ranks") {
    runRanks(
        ranks,
        [](int) {
          auto comm = Communicator::fromEnvironment();
          return checkEverything(comm);
        },
        over(transport));
  }
}

TEST_CASE("the shared-memory engine moves and reduces exactly through its arena and by direct reads",
          "[multiproc][more]") {
  // Forced into the engine: with more ranks than cores (this 2-core machine) the moving
  // collectives would otherwise run as schedules. process_vm_readv off: everything through the
  // arena, the large checks in several rounds of its halves; on: blocks from 8 KiB read straight
  // from their owners. 3 ranks divide nothing evenly.
  // (2 ranks reading directly: the test above, over "shm".)
  const auto [cma, ranks] =
      GENERATE(table<std::string, int>({{"0", 2}, {"0", 3}, {"0", 4}, {"65536", 3}, {"65536", 4}}));
  using namespace std::string_literals;
  auto options = over("shm");
  options.environment["BANYAN_SHM_CMA_BYTES"] = cma;
  options.environment["BANYAN_ALGO"] =
      "reduce_scatter:0-:shm;broadcast:0-:shm;gather:0-:shm;scatter:0-:shm;alltoall:0-:shm"s;
  SECTION(std::to_string(ranks) + " ranks, BANYAN_SHM_CMA_BYTES=" + cma) {
    runRanks(
        ranks,
        [](int) {
          auto comm = Communicator::fromEnvironment();
          return checkEverything(comm);
        },
        options);
  }
}

TEST_CASE("no rank leaves a barrier before every rank entered it", "[multiproc][more]") {
  const std::string transport = BANYAN_EACH_TRANSPORT_AND_OFI();
  const int ranks = GENERATE(1, 2, 3, 5);
  SECTION(transport + ", " + std::to_string(ranks) + " ranks") {
    runRanks(
        ranks,
        [](int) {
          auto comm = Communicator::fromEnvironment();
          const int rank = comm.rank();
          constexpr auto kStep = std::chrono::milliseconds(50);
          const auto lastSleep = kStep * (comm.size() - 1);
          for (bool async : {false, true}) {
            // Rank k's clock starts before it enters the first barrier, which rank size - 1 cannot
            // leave before that; rank size - 1 then sleeps lastSleep before the second barrier.
            // So nobody may leave the second one sooner than lastSleep after its clock started.
            const auto start = std::chrono::steady_clock::now();
            comm.barrier();
            std::this_thread::sleep_for(kStep * rank);
            if (async) {
              comm.barrierAsync().wait();
            } else {
              comm.barrier();
            }
            const auto elapsed = std::chrono::steady_clock::now() - start;
            if (elapsed < lastSleep) {
              std::fprintf(
                  stderr, "rank %d: left the barrier after %lld ms, before rank %d woke at %lld ms\n", rank,
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()),
                  comm.size() - 1, static_cast<long long>(lastSleep.count()));
              return 1;
            }
          }
          return 0;
        },
        over(transport));
  }
}

namespace {

// Runs `call`, which must throw InvalidUsage whose message contains every one of `needles`.
template <typename Call>
bool rejects(int rank, const char* what, Call&& call, std::initializer_list<const char*> needles) {
  try {
    call();
  } catch (const Error& error) {
    const std::string message = error.what();
    bool ok = error.code() == ErrorCode::InvalidUsage;
    for (const char* needle : needles) ok = ok && message.find(needle) != std::string::npos;
    if (!ok) std::fprintf(stderr, "rank %d: %s: unexpected error: %s\n", rank, what, message.c_str());
    return ok;
  }
  std::fprintf(stderr, "rank %d: %s: accepted\n", rank, what);
  return false;
}

}  // namespace

TEST_CASE("bad arguments to the new collectives are rejected, naming what is wrong", "[multiproc][more]") {
  runRanks(
      3,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank();
        std::vector<float> a(12, 1.0f), b(12, 0.0f);
        const bool ok =
            rejects(rank, "broadcast root 3", [&] { comm.broadcast(a.data(), 4, DataType::f32, 3); },
                    {"broadcast", "root 3", "0..2"}) &&
            rejects(rank, "reduce root -1",
                    [&] { comm.reduce(a.data(), b.data(), 4, DataType::f32, ReduceOp::sum, -1); },
                    {"reduce", "root -1"}) &&
            rejects(rank, "gather root 7", [&] { comm.gather(a.data(), b.data(), 4, DataType::f32, 7); },
                    {"gather", "root 7"}) &&
            rejects(rank, "scatterAsync root 3", [&] { comm.scatterAsync(a.data(), b.data(), 4, DataType::f32, 3); },
                    {"scatter", "root 3"}) &&
            // Out of range even with nothing to move: the root is wrong regardless.
            rejects(rank, "broadcast count 0 root 5", [&] { comm.broadcast(nullptr, 0, DataType::f32, 5); },
                    {"root 5"}) &&
            rejects(rank, "alltoall in place", [&] { comm.alltoall(a.data(), a.data(), 4, DataType::f32); },
                    {"alltoall", "out of place"}) &&
            rejects(rank, "reduceScatter overlapping",
                    [&] { comm.reduceScatter(a.data(), a.data() + 1, 4, DataType::f32, ReduceOp::sum); },
                    {"reduceScatter", "overlap"}) &&
            // Only the root's call is wrong; the others would be valid and start a collective.
            (rank != 1 ||
             rejects(rank, "reduce without receive buffer on the root",
                     [&] { comm.reduce(a.data(), rank == 1 ? nullptr : b.data(), 4, DataType::f32, ReduceOp::sum, 1); },
                     {"reduce", "receive buffer is null"})) &&
            (rank != 2 || rejects(rank, "scatter without send buffer on the root",
                                  [&] { comm.scatter(rank == 2 ? nullptr : a.data(), b.data(), 4, DataType::f32, 2); },
                                  {"scatter", "send buffer is null"})) &&
            rejects(rank, "reduceScatter with an invalid op",
                    [&] { comm.reduceScatter(a.data(), b.data(), 4, DataType::f32, static_cast<ReduceOp>(99)); },
                    {"reduceScatter", "reduce op"});
        if (!ok) return 1;
        // Nothing was queued by the rejected calls, on any rank: the communicator still works.
        comm.barrier();
        std::vector<float> value{static_cast<float>(rank)};
        comm.broadcast(value.data(), 1, DataType::f32, 2);
        RANK_EXPECT(rank, value[0] == 2.0f);
        return 0;
      },
      over("tcp"));
}

TEST_CASE("a timed-out broadcast names itself, its root and the rank", "[multiproc][more]") {
  bootstrap::LaunchOptions options;
  options.environment["BANYAN_DEBUG"] = "none";  // the failure is the point; its WARN lines are noise
  options.environment["BANYAN_TIMEOUT"] = "1s";
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        if (comm.rank() == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(3));  // the root: alive but absent
          return 0;
        }
        std::vector<float> data(8, 0.0f);
        const auto expectError = [](auto&& call, ErrorCode code, const std::string& part) {
          try {
            call();
          } catch (const Error& error) {
            if (error.code() == code && std::string(error.what()).find(part) != std::string::npos) return true;
            std::fprintf(stderr, "rank 0: unexpected error: %s\n", error.what());
            return false;
          }
          std::fprintf(stderr, "rank 0: no error, expected one containing '%s'\n", part.c_str());
          return false;
        };
        RANK_EXPECT(0, expectError([&] { comm.broadcast(data.data(), 8, DataType::f32, 1); }, ErrorCode::Timeout,
                                   "broadcast #1 (count=8, f32, root=1) on rank 0 of 2"));
        // The communicator is unusable now, and the refusal names the operation it refuses.
        RANK_EXPECT(0, expectError([&] { comm.reduce(data.data(), nullptr, 8, DataType::f32, ReduceOp::avg, 1); },
                                   ErrorCode::Aborted, "reduce #2 (count=8, f32, avg, root=1) on rank 0 of 2"));
        return 0;
      },
      over("tcp", options));
}

namespace {

// Alltoallv layout with uneven, zero-length and gapped blocks: rank r sends (r + 2p) % 4
// elements to rank p (0 for some pairs); send blocks are packed in peer order, receive blocks
// are laid out in reverse peer order with a gap of 2 elements before each, which must stay
// untouched.
std::size_t vCount(int from, int to) { return static_cast<std::size_t>((from + 2 * to) % 4); }

struct VLayout {
  std::vector<std::size_t> sendCounts, sendOffsets, recvCounts, recvOffsets;
  std::size_t sendTotal = 0, recvTotal = 0;
};

VLayout vLayout(int rank, int n) {
  VLayout v;
  for (int p = 0; p < n; ++p) {
    v.sendCounts.push_back(vCount(rank, p));
    v.sendOffsets.push_back(v.sendTotal);
    v.sendTotal += v.sendCounts.back();
  }
  v.recvCounts.resize(static_cast<std::size_t>(n));
  v.recvOffsets.resize(static_cast<std::size_t>(n));
  for (int p = n - 1; p >= 0; --p) {
    v.recvTotal += 2;  // the gap
    v.recvCounts[static_cast<std::size_t>(p)] = vCount(p, rank);
    v.recvOffsets[static_cast<std::size_t>(p)] = v.recvTotal;
    v.recvTotal += vCount(p, rank);
  }
  return v;
}

}  // namespace

TEST_CASE("alltoallv moves uneven and empty blocks exactly", "[multiproc][more]") {
  const std::string transport = BANYAN_EACH_TRANSPORT_AND_OFI();
  const int ranks = GENERATE(1, 2, 3, 5);
  SECTION(transport + ", " + std::to_string(ranks) + " ranks") {
    runRanks(
        ranks,
        [](int) {
          auto comm = Communicator::fromEnvironment();
          const int rank = comm.rank(), n = comm.size();
          const VLayout v = vLayout(rank, n);
          for (const DataType type : {DataType::f64, DataType::i32}) {
            for (const bool async : {false, true}) {
              const std::size_t element = dataTypeSize(type);
              Bytes send(v.sendTotal * element + 1), recv(v.recvTotal * element + 1, kUnset);
              // Block for peer p holds moveValue(rank, 100 * p + i).
              for (int p = 0; p < n; ++p) {
                const auto q = static_cast<std::size_t>(p);
                for (std::size_t i = 0; i < v.sendCounts[q]; ++i) {
                  test::storeValue(type, send.data(), v.sendOffsets[q] + i, moveValue(rank, 100 * q + i));
                }
              }
              if (async) {
                comm.alltoallvAsync(send.data(), v.sendCounts, v.sendOffsets, recv.data(), v.recvCounts, v.recvOffsets,
                                    type)
                    .wait();
              } else {
                comm.alltoallv(send.data(), v.sendCounts, v.sendOffsets, recv.data(), v.recvCounts, v.recvOffsets,
                               type);
              }
              Bytes expected(recv.size(), kUnset);
              for (int p = 0; p < n; ++p) {
                const auto q = static_cast<std::size_t>(p);
                for (std::size_t i = 0; i < v.recvCounts[q]; ++i) {
                  test::storeValue(type, expected.data(), v.recvOffsets[q] + i,
                                   moveValue(p, 100 * static_cast<std::size_t>(rank) + i));
                }
              }
              Checker check{comm, rank, n};
              if (!check.same(recv, expected, type,
                              std::string("alltoallv ") + std::string(toString(type)) + (async ? " async" : ""))) {
                return 1;
              }
            }
          }
          return 0;
        },
        over(transport));
  }
}

TEST_CASE("alltoallv refuses bad tables, naming what is wrong", "[multiproc][more]") {
  runRanks(3, [](int) {
    auto comm = Communicator::fromEnvironment();
    const int rank = comm.rank();
    std::vector<double> send(16), recv(16);
    const std::vector<std::size_t> ones{1, 1, 1}, packed{0, 1, 2}, twoEntries{1, 1}, clash{0, 0, 1};
    const auto expectError = [&](auto call, const char* part) {
      try {
        call();
      } catch (const Error& error) {
        if (error.code() == ErrorCode::InvalidUsage && std::strstr(error.what(), part) != nullptr) return true;
        std::fprintf(stderr, "rank %d: unexpected error: %s\n", rank, error.what());
        return false;
      }
      std::fprintf(stderr, "rank %d: no error (expected '%s')\n", rank, part);
      return false;
    };
    RANK_EXPECT(
        rank,
        expectError([&] { comm.alltoallv(send.data(), twoEntries, packed, recv.data(), ones, packed, DataType::f64); },
                    "sendCounts has 2 entries"));
    RANK_EXPECT(rank,
                expectError([&] { comm.alltoallv(send.data(), ones, packed, recv.data(), ones, clash, DataType::f64); },
                            "overlap"));
    RANK_EXPECT(
        rank,
        expectError([&] { comm.alltoallv(send.data(), ones, packed, send.data() + 1, ones, packed, DataType::f64); },
                    "out of place only"));
    // Still usable: every rank sends one element to every rank.
    for (std::size_t i = 0; i < 3; ++i) send[i] = 10.0 * rank + static_cast<double>(i);
    comm.alltoallv(send.data(), ones, packed, recv.data(), ones, packed, DataType::f64);
    for (int p = 0; p < 3; ++p) RANK_EXPECT(rank, recv[static_cast<std::size_t>(p)] == 10.0 * p + rank);
    return 0;
  });
}

TEST_CASE("bitwise and, or, xor reduce integers exactly and refuse floating point", "[multiproc][more]") {
  const std::string transport = BANYAN_EACH_TRANSPORT_AND_OFI();
  runRanks(
      3,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank(), n = comm.size();
        for (const std::size_t count : {std::size_t{1}, std::size_t{1000}, std::size_t{300000}}) {
          std::vector<std::int64_t> a(count), o(count), x(count);
          for (std::size_t i = 0; i < count; ++i) {
            const auto bit = std::int64_t{1} << ((i + static_cast<std::size_t>(rank)) % 63);
            a[i] = ~bit;  // each rank clears one bit
            o[i] = bit;   // ... or sets it
            x[i] = static_cast<std::int64_t>(i * 2654435761u) ^ (rank * 977);
          }
          comm.allreduce(a.data(), count, DataType::i64, ReduceOp::band);
          comm.allreduce(o.data(), count, DataType::i64, ReduceOp::bor);
          comm.allreduce(x.data(), count, DataType::i64, ReduceOp::bxor);
          for (std::size_t i = 0; i < count; i += 101) {
            std::int64_t cleared = 0, xored = 0;
            for (int r = 0; r < n; ++r) {
              cleared |= std::int64_t{1} << ((i + static_cast<std::size_t>(r)) % 63);
              xored ^= static_cast<std::int64_t>(i * 2654435761u) ^ (r * 977);
            }
            RANK_EXPECT(rank, a[i] == ~cleared);
            RANK_EXPECT(rank, o[i] == cleared);
            RANK_EXPECT(rank, x[i] == xored);
          }
        }
        float f = 1.0f;
        try {
          comm.allreduce(&f, 1, DataType::f32, ReduceOp::bxor);
          std::fprintf(stderr, "rank %d: bxor on f32 was accepted\n", rank);
          return 1;
        } catch (const Error& error) {
          RANK_EXPECT(rank, error.code() == ErrorCode::InvalidUsage && std::strstr(error.what(), "integer type"));
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("100 outstanding operations of mixed kinds complete in issue order", "[multiproc][more]") {
  const std::string transport = BANYAN_EACH_TRANSPORT_AND_OFI();
  runRanks(
      4,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank(), n = comm.size();
        constexpr int kOperations = 100;
        constexpr std::size_t kCount = 64;  // per rank or per peer
        std::vector<std::vector<std::int32_t>> in(kOperations), out(kOperations);
        std::vector<Work> works;
        std::vector<int> finished;  // operation indices, in the order their callbacks ran
        for (int k = 0; k < kOperations; ++k) {
          in[k].assign(kCount * static_cast<std::size_t>(n), rank * 1000 + k);
          out[k].assign(kCount * static_cast<std::size_t>(n), -1);
          Work work;
          switch (k % 6) {
            case 0:
              work = comm.allreduceAsync(in[k].data(), out[k].data(), kCount, DataType::i32, ReduceOp::sum);
              break;
            case 1:
              work = comm.allgatherAsync(in[k].data(), out[k].data(), kCount, DataType::i32);
              break;
            case 2:
              work = comm.broadcastAsync(in[k].data(), kCount, DataType::i32, k % n);
              break;
            case 3:
              work = comm.reduceScatterAsync(in[k].data(), out[k].data(), kCount, DataType::i32, ReduceOp::max);
              break;
            case 4:
              work = comm.alltoallAsync(in[k].data(), out[k].data(), kCount, DataType::i32);
              break;
            case 5:
              work = comm.barrierAsync();
              break;
          }
          work.then([&finished, k](const std::optional<Error>&) { finished.push_back(k); });
          works.push_back(work);
        }
        works.back().wait();
        for (auto& work : works) RANK_EXPECT(rank, work.test() && !work.error());
        RANK_EXPECT(rank, static_cast<int>(finished.size()) == kOperations);
        for (int k = 0; k < kOperations; ++k) RANK_EXPECT(rank, finished[static_cast<std::size_t>(k)] == k);
        for (int k = 0; k < kOperations; ++k) {
          const auto& o = out[k];
          switch (k % 6) {
            case 0:
              RANK_EXPECT(rank, o[kCount - 1] == 1000 * (n * (n - 1) / 2) + n * k);
              break;
            case 1:
              for (int p = 0; p < n; ++p) RANK_EXPECT(rank, o[static_cast<std::size_t>(p) * kCount] == p * 1000 + k);
              break;
            case 2:
              RANK_EXPECT(rank, in[k][kCount - 1] == (k % n) * 1000 + k);
              break;
            case 3:
              RANK_EXPECT(rank, o[0] == (n - 1) * 1000 + k);
              break;
            case 4:
              for (int p = 0; p < n; ++p) RANK_EXPECT(rank, o[static_cast<std::size_t>(p) * kCount] == p * 1000 + k);
              break;
            default:
              break;
          }
        }
        return 0;
      },
      over(transport));
}

namespace {

double loadValue(DataType type, const void* buffer, std::size_t index) {
  switch (type) {
    case DataType::f32:
      return static_cast<const float*>(buffer)[index];
    case DataType::f64:
      return static_cast<const double*>(buffer)[index];
    case DataType::f16:
      return reduce::halfToFloat(static_cast<const std::uint16_t*>(buffer)[index]);
    case DataType::bf16:
      return reduce::bfloat16ToFloat(static_cast<const std::uint16_t*>(buffer)[index]);
    default:
      return 0;
  }
}

}  // namespace

TEST_CASE("premul_sum scales each rank's input by its own factor, then sums", "[multiproc][more]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      3,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank(), n = comm.size();
        // Small integers times powers of two: every product and sum is exact in each type, so
        // the check is exact too. Each rank has its own factor, as NCCL allows.
        const auto factorOf = [](int r) { return std::ldexp(1.0, -(r + 1)); };
        const auto input = [](int r, std::size_t i) {
          return static_cast<double>((i % 7) + static_cast<std::size_t>(r));
        };
        const auto expect = [&](std::size_t i) {
          double sum = 0;
          for (int r = 0; r < n; ++r) sum += input(r, i) * factorOf(r);
          return sum;
        };
        for (DataType type : {DataType::f32, DataType::f64, DataType::f16, DataType::bf16}) {
          const std::size_t element = dataTypeSize(type);
          for (const std::size_t count : {std::size_t{5}, std::size_t{70000}}) {
            std::vector<std::byte> send(count * element * static_cast<std::size_t>(n)), recv(send.size());
            for (std::size_t i = 0; i < count * static_cast<std::size_t>(n); ++i) {
              test::storeValue(type, send.data(), i, input(rank, i));
            }
            const std::vector<std::byte> original = send;
            const Reduction op = Reduction::premulSum(factorOf(rank));
            // Out of place: the input is left as it was.
            comm.allreduce(send.data(), recv.data(), count, type, op);
            RANK_EXPECT(rank, send == original);
            for (std::size_t i = 0; i < count; ++i) RANK_EXPECT(rank, loadValue(type, recv.data(), i) == expect(i));
            // In place.
            comm.allreduce(send.data(), count, type, op);
            for (std::size_t i = 0; i < count; ++i) RANK_EXPECT(rank, loadValue(type, send.data(), i) == expect(i));
            // reduceScatter: block r of the sum lands on rank r.
            send = original;
            comm.reduceScatter(send.data(), recv.data(), count, type, op);
            for (std::size_t i = 0; i < count; ++i) {
              RANK_EXPECT(rank, loadValue(type, recv.data(), i) == expect(static_cast<std::size_t>(rank) * count + i));
            }
            // reduce to the last rank; elsewhere the input stays as it was.
            comm.reduce(send.data(), recv.data(), count, type, op, n - 1);
            RANK_EXPECT(rank, send == original);
            if (rank == n - 1) {
              for (std::size_t i = 0; i < count; ++i) RANK_EXPECT(rank, loadValue(type, recv.data(), i) == expect(i));
            }
          }
        }
        std::int32_t value = 1;
        try {
          comm.allreduce(&value, 1, DataType::i32, Reduction::premulSum(0.5));
          std::fprintf(stderr, "rank %d: premul_sum on i32 was accepted\n", rank);
          return 1;
        } catch (const Error& error) {
          RANK_EXPECT(rank,
                      error.code() == ErrorCode::InvalidUsage && std::strstr(error.what(), "floating-point type"));
        }
        float f = 1;
        try {
          comm.allreduce(&f, 1, DataType::f32, Reduction::premulSum(std::nan("")));
          std::fprintf(stderr, "rank %d: a NaN factor was accepted\n", rank);
          return 1;
        } catch (const Error& error) {
          RANK_EXPECT(rank, error.code() == ErrorCode::InvalidUsage && std::strstr(error.what(), "not finite"));
        }
        return 0;
      },
      over(transport));
}
