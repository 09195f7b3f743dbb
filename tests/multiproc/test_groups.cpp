// Grouped operations: calls collected between groupStart and groupEnd run as one batch. Small
// allreduces are fused (and each still gets its own exact result), sends and receives posted
// in an order that would deadlock as blocking calls complete, and misuse is refused.

#include "support/multiproc.hpp"

#include <banyan/banyan.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace banyan;
using banyan::test::over;
using banyan::test::runRanks;

TEST_CASE("a group of mixed collectives gives each call its exact result", "[multiproc][group]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      3,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank(), n = comm.size();
        for (int round = 0; round < 5; ++round) {
          // Sizes from 1 element to past the fusion limit, i32 and f64 runs interleaved, one in
          // place, one max, one reduce-scatter in the middle: fused runs break where they must.
          const std::size_t counts[] = {1, 7, 1000, 30, 100000, 5, 64, 2, 3};
          std::vector<std::vector<std::int32_t>> ints;
          std::vector<std::vector<std::int32_t>> intOut;
          std::vector<Work> works;
          comm.groupStart();
          for (std::size_t c : counts) {
            ints.emplace_back(c);
            for (std::size_t i = 0; i < c; ++i)
              ints.back()[i] = static_cast<std::int32_t>(rank * 1000 + i % 100 + round);
            intOut.emplace_back(c, -1);
            works.push_back(
                comm.allreduceAsync(ints.back().data(), intOut.back().data(), c, DataType::i32, ReduceOp::sum));
          }
          std::vector<double> inPlace(500, rank + 0.5);
          works.push_back(
              comm.allreduceAsync(inPlace.data(), inPlace.data(), inPlace.size(), DataType::f64, ReduceOp::sum));
          std::vector<std::int32_t> maxed(40, rank * 3 + round);
          works.push_back(comm.allreduceAsync(maxed.data(), maxed.data(), maxed.size(), DataType::i32, ReduceOp::max));
          std::vector<std::int32_t> scatterIn(static_cast<std::size_t>(n) * 10, rank + 1), scatterOut(10, -1);
          works.push_back(
              comm.reduceScatterAsync(scatterIn.data(), scatterOut.data(), 10, DataType::i32, ReduceOp::sum));
          std::vector<std::int32_t> after(9, rank);
          works.push_back(comm.allreduceAsync(after.data(), after.data(), after.size(), DataType::i32, ReduceOp::sum));
          // Nothing has started: the calls wait for groupEnd.
          RANK_EXPECT(rank, !works.front().test());
          Work group = comm.groupEnd();
          group.wait();
          for (const Work& w : works) RANK_EXPECT(rank, w.test() && !w.error());

          for (std::size_t k = 0; k < std::size(counts); ++k) {
            for (std::size_t i = 0; i < counts[k]; ++i) {
              const std::int32_t want = static_cast<std::int32_t>(1000 * (n * (n - 1) / 2) + n * (i % 100 + round));
              RANK_EXPECT(rank, intOut[k][i] == want);
            }
            // Out of place: the input is untouched.
            RANK_EXPECT(rank, counts[k] == 0 || ints[k][0] == static_cast<std::int32_t>(rank * 1000 + round));
          }
          for (double v : inPlace) RANK_EXPECT(rank, v == n * (n - 1) / 2.0 + 0.5 * n);
          for (std::int32_t v : maxed) RANK_EXPECT(rank, v == (n - 1) * 3 + round);
          for (std::int32_t v : scatterOut) RANK_EXPECT(rank, v == n * (n + 1) / 2);
          for (std::int32_t v : after) RANK_EXPECT(rank, v == n * (n - 1) / 2);
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("sends and receives of a group complete whatever order they were posted in", "[multiproc][group][p2p]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      4,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank(), n = comm.size();
        const int next = (rank + 1) % n, previous = (rank + n - 1) % n;
        // Every rank sends a large message (past the eager limit) before it receives: as blocking
        // calls this ring would deadlock; in a group it cannot. An allreduce rides along.
        std::vector<std::int32_t> out(200000, rank), in(200000, -1);
        std::int64_t total = rank;
        comm.groupStart();
        Work sent = comm.sendAsync(out.data(), out.size(), DataType::i32, next, 3);
        Work received = comm.recvAsync(in.data(), in.size(), DataType::i32, previous, 3);
        Work summed = comm.allreduceAsync(&total, &total, 1, DataType::i64, ReduceOp::sum);
        comm.groupEnd().wait();
        RANK_EXPECT(rank, sent.test() && received.test() && summed.test());
        RANK_EXPECT(rank, received.source() == previous);
        for (std::int32_t v : in) RANK_EXPECT(rank, v == previous);
        RANK_EXPECT(rank, total == n * (n - 1) / 2);
        return 0;
      },
      over(transport));
}

TEST_CASE("a fused allreduce that times out names itself and ends every part", "[multiproc][group]") {
  bootstrap::LaunchOptions options;
  options.environment["BANYAN_TIMEOUT"] = "1500ms";
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank();
        if (rank == 1) {
          comm.barrier();
          // Rank 1 never joins the group's allreduces, and stays until rank 0 has timed out.
          std::this_thread::sleep_for(std::chrono::seconds(3));
          return 0;
        }
        comm.barrier();
        std::vector<float> a(10, 1), b(20, 1), c(30, 1);
        comm.groupStart();
        Work wa = comm.allreduceAsync(a.data(), a.data(), a.size(), DataType::f32, ReduceOp::sum);
        Work wb = comm.allreduceAsync(b.data(), b.data(), b.size(), DataType::f32, ReduceOp::sum);
        Work wc = comm.allreduceAsync(c.data(), c.data(), c.size(), DataType::f32, ReduceOp::sum);
        Work group = comm.groupEnd();
        try {
          group.wait();
          std::fprintf(stderr, "a group whose peer never came completed\n");
          return 1;
        } catch (const Error& e) {
          const std::string text = e.what();
          RANK_EXPECT(rank, e.code() == ErrorCode::Timeout);
          RANK_EXPECT(rank, text.find("count=60") != std::string::npos);
          RANK_EXPECT(rank, text.find("3 calls fused") != std::string::npos);
        }
        for (const Work* w : {&wa, &wb, &wc}) RANK_EXPECT(rank, w->test() && w->error().has_value());
        return 0;
      },
      options);
}

TEST_CASE("group misuse is refused: blocking calls inside, an end without a start", "[multiproc][group]") {
  runRanks(2, [](int) {
    auto comm = Communicator::fromEnvironment();
    const int rank = comm.rank();
    try {
      comm.groupEnd();
      std::fprintf(stderr, "groupEnd without groupStart was accepted\n");
      return 1;
    } catch (const Error& e) {
      RANK_EXPECT(rank, e.code() == ErrorCode::InvalidUsage && std::strstr(e.what(), "without a groupStart"));
    }
    float value = 1;
    comm.groupStart();
    comm.groupStart();  // nested: only the outer end issues
    Work first = comm.allreduceAsync(&value, &value, 1, DataType::f32, ReduceOp::sum);
    try {
      comm.allreduce(&value, 1, DataType::f32, ReduceOp::sum);
      std::fprintf(stderr, "a blocking allreduce inside a group was accepted\n");
      return 1;
    } catch (const Error& e) {
      RANK_EXPECT(rank, e.code() == ErrorCode::InvalidUsage && std::strstr(e.what(), "would wait for itself"));
    }
    try {
      comm.send(&value, 1, DataType::f32, 1 - rank, 0);
      std::fprintf(stderr, "a blocking send inside a group was accepted\n");
      return 1;
    } catch (const Error& e) {
      RANK_EXPECT(rank, e.code() == ErrorCode::InvalidUsage && std::strstr(e.what(), "blocking send"));
    }
    comm.groupEnd();
    RANK_EXPECT(rank, !first.test());
    comm.groupEnd().wait();
    first.wait();
    RANK_EXPECT(rank, value == 2);
    // An empty group is a completed Work.
    comm.groupStart();
    RANK_EXPECT(rank, comm.groupEnd().test());
    return 0;
  });
}
