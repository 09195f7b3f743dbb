// The C interface (include/banyan/banyan.h) in real processes: every collective's numbers, async
// work, split, send/recv, errors as codes with messages that name the function and argument, the
// launcher entry point, and the C example (examples/allreduce.c) under the local launcher. The
// ranks use only the C functions, so what is proven is the ABI, not the C++ behind it.

#include "support/multiproc.hpp"

#include <banyan/banyan.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using banyan::test::runRanks;

// Out-of-range enum values, made in C (capi_raw_enums.c).
extern "C" {
banyan_status capi_test_allreduce_with_dtype(banyan_comm* comm, float* data, size_t count, int dtype);
banyan_status capi_test_reduce_scatter_with_op(banyan_comm* comm, float* data, size_t recv_count, int op);
const char* capi_test_status_name(int status);
size_t capi_test_dtype_size(int dtype);
}

namespace {

// Fails the rank (returns false) and says why when `status` is not `wanted`.
bool expectStatus(banyan_status status, banyan_status wanted, const char* what) {
  if (status == wanted) return true;
  std::fprintf(stderr, "%s: %s, expected %s: %s\n", what, banyan_status_name(status), banyan_status_name(wanted),
               banyan_last_error());
  return false;
}
bool ok(banyan_status status, const char* what) { return expectStatus(status, BANYAN_OK, what); }

// Compares element by element; prints the first difference.
template <typename T>
bool same(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (i >= got.size() || got[i] != want[i]) {
      std::fprintf(stderr, "%s: element %zu is %g, expected %g\n", what, i, i < got.size() ? double(got[i]) : -1.0,
                   double(want[i]));
      return false;
    }
  }
  return got.size() == want.size();
}

// The value rank r holds at element i of its input, distinct for every (r, i).
int input(int r, std::size_t i) { return r * 100 + static_cast<int>(i); }

struct Ranks {
  banyan_comm* comm = nullptr;
  int rank = -1;
  int size = 0;
  ~Ranks() { banyan_comm_destroy(comm); }
  bool open() {
    return ok(banyan_comm_from_env(&comm), "from_env") && ok(banyan_comm_rank(comm, &rank), "rank") &&
           ok(banyan_comm_size(comm, &size), "size");
  }
};

// allreduce (in and out of place), broadcast, reduce, allgather, reduce_scatter.
bool reducingCollectives(Ranks& r) {
  const std::size_t n = 5;
  std::vector<double> in(n), out(n, -1), want(n, 0);
  for (std::size_t i = 0; i < n; ++i) in[i] = input(r.rank, i);
  for (int q = 0; q < r.size; ++q)
    for (std::size_t i = 0; i < n; ++i) want[i] += input(q, i);
  if (!ok(banyan_allreduce(r.comm, in.data(), out.data(), n, BANYAN_F64, BANYAN_SUM), "allreduce")) return false;
  if (!same(out, want, "allreduce f64 sum")) return false;
  std::vector<int> mine(n), wantMax(n);
  for (std::size_t i = 0; i < n; ++i) mine[i] = input(r.rank, i), wantMax[i] = input(r.size - 1, i);
  if (!ok(banyan_allreduce(r.comm, mine.data(), mine.data(), n, BANYAN_I32, BANYAN_MAX), "allreduce in place") ||
      !same(mine, wantMax, "allreduce i32 max in place"))
    return false;

  std::vector<float> bcast(n, r.rank == 1 ? 7.5f : 0.f);
  if (!ok(banyan_broadcast(r.comm, bcast.data(), n, BANYAN_F32, 1), "broadcast") ||
      !same(bcast, std::vector<float>(n, 7.5f), "broadcast from 1"))
    return false;

  std::vector<double> reduced(n, -1);
  const int root = r.size - 1;
  if (!ok(banyan_reduce(r.comm, in.data(), r.rank == root ? reduced.data() : nullptr, n, BANYAN_F64, BANYAN_SUM, root),
          "reduce"))
    return false;
  if (r.rank == root && !same(reduced, want, "reduce to the last rank")) return false;

  std::vector<int> gathered(n * r.size, -1), wantGathered;
  for (int q = 0; q < r.size; ++q)
    for (std::size_t i = 0; i < n; ++i) wantGathered.push_back(input(q, i));
  std::vector<int> block(n);
  for (std::size_t i = 0; i < n; ++i) block[i] = input(r.rank, i);
  if (!ok(banyan_allgather(r.comm, block.data(), gathered.data(), n, BANYAN_I32), "allgather") ||
      !same(gathered, wantGathered, "allgather"))
    return false;

  // reduce_scatter: every rank sends size blocks of n; block b summed over ranks lands on rank b.
  std::vector<int> all(n * r.size), part(n, -1), wantPart(n, 0);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = input(r.rank, i);
  for (int q = 0; q < r.size; ++q)
    for (std::size_t i = 0; i < n; ++i) wantPart[i] += input(q, r.rank * n + i);
  return ok(banyan_reduce_scatter(r.comm, all.data(), part.data(), n, BANYAN_I32, BANYAN_SUM), "reduce_scatter") &&
         same(part, wantPart, "reduce_scatter");
}

// alltoall, alltoallv, gather, scatter, barrier.
bool movingCollectives(Ranks& r) {
  const std::size_t n = 3;
  const std::size_t total = n * r.size;
  std::vector<int> send(total), recv(total, -1), want(total);
  for (std::size_t i = 0; i < total; ++i) send[i] = input(r.rank, i);
  for (int p = 0; p < r.size; ++p)
    for (std::size_t i = 0; i < n; ++i) want[p * n + i] = input(p, r.rank * n + i);
  if (!ok(banyan_alltoall(r.comm, send.data(), recv.data(), n, BANYAN_I32), "alltoall") ||
      !same(recv, want, "alltoall"))
    return false;

  // alltoallv with the same layout as alltoall, tables in elements.
  std::vector<size_t> counts(r.size, n), offsets(r.size);
  for (int p = 0; p < r.size; ++p) offsets[p] = p * n;
  std::vector<int> recvv(total, -1);
  if (!ok(banyan_alltoallv(r.comm, send.data(), counts.data(), offsets.data(), recvv.data(), counts.data(),
                           offsets.data(), BANYAN_I32),
          "alltoallv") ||
      !same(recvv, want, "alltoallv"))
    return false;

  std::vector<int> mine(n), gathered(total, -1), wantGathered;
  for (std::size_t i = 0; i < n; ++i) mine[i] = input(r.rank, i);
  for (int q = 0; q < r.size; ++q)
    for (std::size_t i = 0; i < n; ++i) wantGathered.push_back(input(q, i));
  if (!ok(banyan_gather(r.comm, mine.data(), r.rank == 0 ? gathered.data() : nullptr, n, BANYAN_I32, 0), "gather"))
    return false;
  if (r.rank == 0 && !same(gathered, wantGathered, "gather to 0")) return false;

  std::vector<int> scattered(n, -1), wantScattered(n);
  for (std::size_t i = 0; i < n; ++i) wantScattered[i] = input(0, r.rank * n + i);
  std::vector<int> source(total);
  for (std::size_t i = 0; i < total; ++i) source[i] = input(0, i);
  if (!ok(banyan_scatter(r.comm, r.rank == 0 ? source.data() : nullptr, scattered.data(), n, BANYAN_I32, 0),
          "scatter") ||
      !same(scattered, wantScattered, "scatter from 0"))
    return false;
  return ok(banyan_barrier(r.comm), "barrier");
}

}  // namespace

TEST_CASE("C ABI: every collective gives the right answer", "[multiproc][capi]") {
  const int ranks = GENERATE(2, 3, 4);
  CAPTURE(ranks);
  runRanks(ranks, [](int) {
    Ranks r;
    return r.open() && reducingCollectives(r) && movingCollectives(r) ? 0 : 1;
  });
}

TEST_CASE("C ABI: async operations end through their work handles", "[multiproc][capi]") {
  runRanks(3, [](int) {
    Ranks r;
    if (!r.open()) return 1;
    std::vector<int> values(1000, r.rank + 1);
    banyan_work* reduce = nullptr;
    banyan_work* barrier = nullptr;
    if (!ok(banyan_allreduce_async(r.comm, values.data(), values.data(), values.size(), BANYAN_I32, BANYAN_SUM,
                                   &reduce),
            "allreduce_async") ||
        !ok(banyan_barrier_async(r.comm, &barrier), "barrier_async"))
      return 1;
    int done = 0;
    const bool ended = ok(banyan_work_wait_for(reduce, 30000, &done), "wait_for") && done == 1;
    const bool waited =
        ok(banyan_work_wait(barrier), "wait") && ok(banyan_work_test(barrier, &done), "test") && done == 1;
    banyan_work_free(reduce);
    banyan_work_free(barrier);
    if (!ended || !waited) return 1;
    if (!same(values, std::vector<int>(1000, 6), "allreduce_async sum")) return 1;

    // A group: two small allreduces issued together by group_end, whose work covers both.
    int a = r.rank;
    int b = 10 * r.rank;
    banyan_work* first = nullptr;
    banyan_work* second = nullptr;
    banyan_work* group = nullptr;
    const bool grouped = ok(banyan_group_start(r.comm), "group_start") &&
                         ok(banyan_allreduce_async(r.comm, &a, &a, 1, BANYAN_I32, BANYAN_SUM, &first), "in group") &&
                         ok(banyan_allreduce_async(r.comm, &b, &b, 1, BANYAN_I32, BANYAN_MAX, &second), "in group") &&
                         ok(banyan_group_end(r.comm, &group), "group_end") &&
                         ok(banyan_work_wait(group), "group wait") && ok(banyan_work_wait(first), "first wait") &&
                         ok(banyan_work_wait(second), "second wait");
    banyan_work_free(first);
    banyan_work_free(second);
    banyan_work_free(group);
    if (!grouped || a != 0 + 1 + 2 || b != 10 * (r.size - 1)) {
      std::fprintf(stderr, "group: sum %d (expected 3), max %d (expected %d)\n", a, b, 10 * (r.size - 1));
      return 1;
    }

    // A receive from any source learns its sender through the work handle.
    const int next = (r.rank + 1) % r.size;
    const int previous = (r.rank + r.size - 1) % r.size;
    int got = -1;
    banyan_work* recv = nullptr;
    banyan_work* send = nullptr;
    const int mine = r.rank * 10;
    bool good = ok(banyan_recv_async(r.comm, &got, 1, BANYAN_I32, BANYAN_ANY_SOURCE, 4, &recv), "recv_async") &&
                ok(banyan_send_async(r.comm, &mine, 1, BANYAN_I32, next, 4, &send), "send_async") &&
                ok(banyan_work_wait(send), "wait send") && ok(banyan_work_wait(recv), "wait recv");
    int source = -2;
    good = good && ok(banyan_work_source(recv, &source), "work_source");
    banyan_work_free(recv);
    banyan_work_free(send);
    if (good && (source != previous || got != previous * 10)) {
      std::fprintf(stderr, "recv_async: got %d from %d, expected %d from %d\n", got, source, previous * 10, previous);
      good = false;
    }
    return good ? 0 : 1;
  });
}

TEST_CASE("C ABI: split makes communicators of the ranks of one color", "[multiproc][capi]") {
  runRanks(4, [](int) {
    Ranks r;
    if (!r.open()) return 1;
    // Colors: even ranks 0, odd ranks 1; key reverses the order inside each color.
    banyan_comm* half = nullptr;
    if (!ok(banyan_comm_split(r.comm, r.rank % 2, -r.rank, &half), "split") || half == nullptr) return 1;
    int rank = -1;
    int size = -1;
    banyan_comm_rank(half, &rank);
    banyan_comm_size(half, &size);
    int sum = r.rank;
    const bool good = ok(banyan_allreduce(half, &sum, &sum, 1, BANYAN_I32, BANYAN_SUM), "allreduce on the half");
    banyan_comm_destroy(half);
    const int wantRank = r.rank < 2 ? 1 : 0;
    const int wantSum = r.rank % 2 == 0 ? 0 + 2 : 1 + 3;
    if (!good || size != 2 || rank != wantRank || sum != wantSum) {
      std::fprintf(stderr, "split: rank %d of %d with sum %d, expected rank %d of 2 with sum %d\n", rank, size, sum,
                   wantRank, wantSum);
      return 1;
    }
    // A negative color joins none: NULL, and the parent keeps working.
    banyan_comm* none = reinterpret_cast<banyan_comm*>(&sum);
    if (!ok(banyan_comm_split(r.comm, r.rank == 0 ? -1 : 0, 0, &none), "split with a negative color")) return 1;
    if (r.rank == 0 && none != nullptr) {
      std::fprintf(stderr, "split with a negative color gave a communicator\n");
      return 1;
    }
    banyan_comm_destroy(none);
    return ok(banyan_barrier(r.comm), "barrier after split") ? 0 : 1;
  });
}

TEST_CASE("C ABI: send and recv deliver to the named peer", "[multiproc][capi]") {
  runRanks(2, [](int) {
    Ranks r;
    if (!r.open()) return 1;
    const int peer = 1 - r.rank;
    std::vector<double> out(100), in(100, -1), want(100);
    for (int i = 0; i < 100; ++i) out[i] = r.rank * 1000 + i, want[i] = peer * 1000 + i;
    int source = -1;
    // Rank 0 sends first and rank 1 receives first: the order needs no matching on either side.
    const bool good = r.rank == 0 ? ok(banyan_send(r.comm, out.data(), 100, BANYAN_F64, peer, 3), "send") &&
                                        ok(banyan_recv(r.comm, in.data(), 100, BANYAN_F64, peer, 3, &source), "recv")
                                  : ok(banyan_recv(r.comm, in.data(), 100, BANYAN_F64, peer, 3, &source), "recv") &&
                                        ok(banyan_send(r.comm, out.data(), 100, BANYAN_F64, peer, 3), "send");
    if (!good || !same(in, want, "recv")) return 1;
    if (source != peer) {
      std::fprintf(stderr, "recv: source %d, expected %d\n", source, peer);
      return 1;
    }
    return 0;
  });
}

// Out-of-range enum values, made in C (capi_raw_enums.c).
extern "C" {
banyan_status capi_test_allreduce_with_dtype(banyan_comm* comm, float* data, size_t count, int dtype);
banyan_status capi_test_reduce_scatter_with_op(banyan_comm* comm, float* data, size_t recv_count, int op);
const char* capi_test_status_name(int status);
size_t capi_test_dtype_size(int dtype);
}

namespace {

// The call failed with `wanted`, and its message holds every one of `words`.
bool failsWith(banyan_status status, banyan_status wanted, std::vector<std::string> words, const char* what) {
  if (!expectStatus(status, wanted, what)) return false;
  const std::string message = banyan_last_error();
  for (const auto& word : words) {
    if (message.find(word) == std::string::npos) {
      std::fprintf(stderr, "%s: the message \"%s\" does not say \"%s\"\n", what, message.c_str(), word.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("C ABI: bad arguments are InvalidUsage codes naming the function and argument", "[multiproc][capi]") {
  // No communicator is needed for a NULL handle: checked before anything else.
  float x = 0;
  CHECK(failsWith(banyan_allreduce(nullptr, &x, &x, 1, BANYAN_F32, BANYAN_SUM), BANYAN_ERR_INVALID_USAGE,
                  {"banyan_allreduce", "comm", "NULL"}, "NULL comm"));
  CHECK(
      failsWith(banyan_comm_from_env(nullptr), BANYAN_ERR_INVALID_USAGE, {"banyan_comm_from_env", "out"}, "NULL out"));
  CHECK(banyan_comm_destroy(nullptr) == BANYAN_OK);
  banyan_work_free(nullptr);
  CHECK(std::string(banyan_version()) == BANYAN_VERSION);
  CHECK(std::string(capi_test_status_name(99)) == "Unknown");
  CHECK(banyan_dtype_size(BANYAN_I64) == 8);
  CHECK(capi_test_dtype_size(256) == 0);

  runRanks(2, [](int) {
    Ranks r;
    if (!r.open()) return 1;
    float v[4] = {1, 2, 3, 4};
    banyan_work* work = nullptr;
    // 256 would wrap to f32 if narrowed to the C++ enum's byte before the check.
    const bool good =
        failsWith(capi_test_allreduce_with_dtype(r.comm, v, 4, 256), BANYAN_ERR_INVALID_USAGE,
                  {"banyan_allreduce", "dtype 256"}, "unknown dtype") &&
        failsWith(capi_test_reduce_scatter_with_op(r.comm, v, 2, -1), BANYAN_ERR_INVALID_USAGE,
                  {"banyan_reduce_scatter", "op -1"}, "unknown op") &&
        failsWith(banyan_allreduce(r.comm, nullptr, v, 4, BANYAN_F32, BANYAN_SUM), BANYAN_ERR_INVALID_USAGE,
                  {"banyan_allreduce", "send buffer is null"}, "NULL send buffer") &&
        failsWith(banyan_broadcast_async(r.comm, v, 4, BANYAN_F32, 0, nullptr), BANYAN_ERR_INVALID_USAGE,
                  {"banyan_broadcast_async", "work"}, "NULL work out-pointer") &&
        failsWith(banyan_allreduce(r.comm, v, v, 4, BANYAN_F32, BANYAN_BXOR), BANYAN_ERR_INVALID_USAGE,
                  {"banyan_allreduce"}, "bitwise op on floats") &&
        failsWith(banyan_comm_rank(r.comm, nullptr), BANYAN_ERR_INVALID_USAGE, {"banyan_comm_rank", "rank"},
                  "NULL rank out-pointer") &&
        work == nullptr &&
        // Refused calls leave the communicator working.
        ok(banyan_allreduce(r.comm, v, v, 4, BANYAN_F32, BANYAN_SUM), "allreduce after the refusals") && v[0] == 2 &&
        v[3] == 8;
    return good ? 0 : 1;
  });
}

TEST_CASE("C ABI: subset takes the listed ranks, agree ANDs the flags", "[multiproc][capi]") {
  runRanks(3, [](int) {
    Ranks r;
    if (!r.open()) return 1;
    // Ranks 2 and 0, in that order: rank 2 becomes 0 and rank 0 becomes 1; rank 1 gets NULL.
    const int listed[] = {2, 0};
    banyan_comm* part = reinterpret_cast<banyan_comm*>(&r);
    if (!ok(banyan_comm_subset(r.comm, listed, 2, &part), "subset")) return 1;
    if ((r.rank == 1) != (part == nullptr)) {
      std::fprintf(stderr, "subset: rank %d got %s\n", r.rank, part ? "a communicator" : "NULL");
      return 1;
    }
    if (part != nullptr) {
      int rank = -1;
      int value = r.rank + 1;
      const bool good = ok(banyan_comm_rank(part, &rank), "subset rank") &&
                        ok(banyan_allreduce(part, &value, &value, 1, BANYAN_I32, BANYAN_SUM), "allreduce on subset");
      banyan_comm_destroy(part);
      if (!good || rank != (r.rank == 2 ? 0 : 1) || value != 3 + 1) {
        std::fprintf(stderr, "subset: rank %d with sum %d\n", rank, value);
        return 1;
      }
    }
    // No rank is gone: the flag is the AND of everyone's, no failed ranks, none lost.
    std::uint64_t flag = 0;
    int failed[4] = {-1, -1, -1, -1};
    int failedCount = -1;
    int lostCount = -1;
    const std::uint64_t mine = 0xF0u | (1u << r.rank);
    if (!ok(banyan_comm_agree(r.comm, mine, &flag, failed, 4, &failedCount), "agree") ||
        !ok(banyan_comm_lost_ranks(r.comm, nullptr, 0, &lostCount), "lost_ranks"))
      return 1;
    if (flag != 0xF0u || failedCount != 0 || lostCount != 0) {
      std::fprintf(stderr, "agree: flag %llx (expected f0), %d failed, %d lost\n",
                   static_cast<unsigned long long>(flag), failedCount, lostCount);
      return 1;
    }
    return failsWith(banyan_comm_lost_ranks(r.comm, nullptr, 2, &lostCount), BANYAN_ERR_INVALID_USAGE,
                     {"banyan_comm_lost_ranks", "rank array"}, "lost_ranks without an array")
               ? 0
               : 1;
  });
}

TEST_CASE("C ABI: a receive nobody answers ends with a Timeout code", "[multiproc][capi]") {
  banyan::bootstrap::LaunchOptions options;
  options.environment["BANYAN_TIMEOUT"] = "1s";
  runRanks(
      2,
      [](int) {
        Ranks r;
        if (!r.open()) return 1;
        if (!ok(banyan_barrier(r.comm), "barrier")) return 1;
        if (r.rank == 1) {
          // Stays (quietly) until rank 0 has timed out, so its failure is the deadline, not a
          // lost peer.
          std::this_thread::sleep_for(std::chrono::milliseconds(4000));
          return 0;
        }
        int nothing = 0;
        banyan_work* work = nullptr;
        if (!ok(banyan_recv_async(r.comm, &nothing, 1, BANYAN_I32, 1, 8, &work), "recv_async")) return 1;
        const bool good =
            failsWith(banyan_work_wait(work), BANYAN_ERR_TIMEOUT, {"banyan_work_wait"}, "unanswered recv");
        banyan_work_free(work);
        return good ? 0 : 1;
      },
      options);
}

TEST_CASE("C ABI: banyan_launch_local runs ranks and reports their exits", "[multiproc][capi]") {
  const char* const argv[] = {"sh", "-c", "exit $((BANYAN_RANK + 3 * (BANYAN_SIZE == 3)))", nullptr};
  int codes[3] = {-1, -1, -1};
  REQUIRE(banyan_launch_local(3, argv, 30000, codes) == BANYAN_OK);
  CHECK(codes[0] == 3);
  CHECK(codes[1] == 4);
  CHECK(codes[2] == 5);
  const char* const sleeper[] = {"sleep", "30", nullptr};
  CHECK(banyan_launch_local(1, sleeper, 300, codes) == BANYAN_ERR_TIMEOUT);
  CHECK(std::string(banyan_last_error()).find("banyan_launch_local") != std::string::npos);
  CHECK(codes[0] == 128 + 9);
  CHECK(banyan_launch_local(0, argv, 1000, codes) == BANYAN_ERR_INVALID_USAGE);
}

TEST_CASE("C ABI: the C example sums across ranks under the local launcher", "[multiproc][capi]") {
  const int ranks = GENERATE(2, 3, 4);
  CAPTURE(ranks);
  const std::string example = BANYAN_BUILD_DIR "/examples/allreduce_c_example";
  const char* const argv[] = {example.c_str(), nullptr};
  std::vector<int> codes(ranks, -1);
  REQUIRE(banyan_launch_local(ranks, argv, 60000, codes.data()) == BANYAN_OK);
  for (int rank = 0; rank < ranks; ++rank) {
    CAPTURE(rank);
    CHECK(codes[rank] == 0);
  }
}
