// Point-to-point send/recv: tag matching in any posting order, any source, MPI's
// non-overtaking rule, eager and rendezvous sizes, sends to oneself, length mismatches,
// deadlines, and send/recv running beside collectives and on split communicators.

#include "support/multiproc.hpp"

#include <banyan/banyan.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace banyan;
using banyan::test::over;
using banyan::test::runRanks;

namespace {

// The value element i of the message from `from` to `to` with `tag` holds.
std::int32_t expected(int from, int to, int tag, std::size_t i) {
  return static_cast<std::int32_t>(from * 1000003 + to * 1009 + tag * 101 + static_cast<int>(i % 9973));
}

std::vector<std::int32_t> message(int from, int to, int tag, std::size_t count) {
  std::vector<std::int32_t> data(count);
  for (std::size_t i = 0; i < count; ++i) data[i] = expected(from, to, tag, i);
  return data;
}

bool matches(const std::vector<std::int32_t>& data, int from, int to, int tag) {
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] != expected(from, to, tag, i)) {
      std::fprintf(stderr, "message %d -> %d tag %d: element %zu is %d, expected %d\n", from, to, tag, i, data[i],
                   expected(from, to, tag, i));
      return false;
    }
  }
  return true;
}

// Sizes per tag: empty, small (eager), and above the 64 KiB eager limit (rendezvous).
std::size_t countOf(int tag) {
  static const std::size_t counts[] = {0, 1, 1000, 16384, 70000, 300000};
  return counts[static_cast<std::size_t>(tag) % 6];
}

}  // namespace

TEST_CASE("send/recv between every pair, tags posted in shuffled orders on both sides", "[multiproc][p2p]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  const int n = GENERATE(2, 3, 4);
  runRanks(
      n,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank(), size = comm.size();
        constexpr int kTags = 6;
        // Every (peer, tag) to send and to receive, each side in its own random order, so most
        // messages arrive before (or after) the receive that takes them.
        std::vector<std::pair<int, int>> sends, recvs;
        for (int peer = 0; peer < size; ++peer) {
          if (peer == rank) continue;
          for (int tag = 0; tag < kTags; ++tag) {
            sends.emplace_back(peer, tag);
            recvs.emplace_back(peer, tag);
          }
        }
        std::mt19937 random(static_cast<unsigned>(rank * 7 + 1));
        std::shuffle(sends.begin(), sends.end(), random);
        std::shuffle(recvs.begin(), recvs.end(), random);

        std::vector<std::vector<std::int32_t>> out, in;
        std::vector<Work> works;
        // Interleave the two lists: receives and sends of one rank are mixed too.
        for (std::size_t i = 0; i < sends.size(); ++i) {
          const auto [to, sendTag] = sends[i];
          out.push_back(message(rank, to, sendTag, countOf(sendTag)));
          works.push_back(comm.sendAsync(out.back().data(), out.back().size(), DataType::i32, to, sendTag));
          const auto [from, recvTag] = recvs[i];
          in.emplace_back(countOf(recvTag), -1);
          works.push_back(comm.recvAsync(in.back().data(), in.back().size(), DataType::i32, from, recvTag));
        }
        for (auto& work : works) work.wait();
        for (std::size_t i = 0; i < recvs.size(); ++i) {
          RANK_EXPECT(rank, works[2 * i + 1].source() == recvs[i].first);
          RANK_EXPECT(rank, matches(in[i], recvs[i].first, rank, recvs[i].second));
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("a receive from any source learns the source; a blocking recv returns it", "[multiproc][p2p]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      4,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank(), size = comm.size();
        constexpr int kTag = 42;
        if (rank == 0) {
          std::set<int> seen;
          for (int i = 1; i < size; ++i) {
            std::vector<std::int32_t> data(2000, -1);
            const int source = comm.recv(data.data(), data.size(), DataType::i32, Communicator::kAnySource, kTag);
            RANK_EXPECT(rank, source >= 1 && source < size);
            RANK_EXPECT(rank, matches(data, source, 0, kTag));
            seen.insert(source);
          }
          RANK_EXPECT(rank, static_cast<int>(seen.size()) == size - 1);
          // A message with another tag is not taken by an any-source receive of this tag.
          std::vector<std::int32_t> other(5, -1);
          Work anyOf7 = comm.recvAsync(other.data(), other.size(), DataType::i32, Communicator::kAnySource, 7);
          std::vector<std::int32_t> eight(5, -1);
          comm.recv(eight.data(), eight.size(), DataType::i32, 2, 8);
          RANK_EXPECT(rank, matches(eight, 2, 0, 8));
          RANK_EXPECT(rank, !anyOf7.test());
          comm.barrier();  // now rank 3 sends tag 7
          anyOf7.wait();
          RANK_EXPECT(rank, anyOf7.source() == 3 && matches(other, 3, 0, 7));
        } else {
          auto data = message(rank, 0, kTag, 2000);
          comm.send(data.data(), data.size(), DataType::i32, 0, kTag);
          if (rank == 2) {
            auto eight = message(2, 0, 8, 5);
            comm.send(eight.data(), eight.size(), DataType::i32, 0, 8);
          }
          comm.barrier();
          if (rank == 3) {
            auto seven = message(3, 0, 7, 5);
            comm.send(seven.data(), seven.size(), DataType::i32, 0, 7);
          }
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("messages of one source and tag are received in the order they were sent", "[multiproc][p2p]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank();
        constexpr int kMessages = 40;
        // Sizes alternate between eager and rendezvous, so a small message announced after a
        // large one still must not overtake it.
        const auto countAt = [](int i) { return i % 3 == 0 ? std::size_t{40000} : static_cast<std::size_t>(3 + i); };
        std::vector<std::vector<std::int32_t>> buffers;
        std::vector<Work> works;
        for (int i = 0; i < kMessages; ++i) {
          if (rank == 0) {
            buffers.emplace_back(countAt(i), i);
            works.push_back(comm.sendAsync(buffers.back().data(), buffers.back().size(), DataType::i32, 1, 9));
          } else {
            buffers.emplace_back(countAt(i), -1);
            works.push_back(comm.recvAsync(buffers.back().data(), buffers.back().size(), DataType::i32, 0, 9));
          }
        }
        for (auto& work : works) work.wait();
        if (rank == 1) {
          for (int i = 0; i < kMessages; ++i) {
            RANK_EXPECT(rank, std::all_of(buffers[static_cast<std::size_t>(i)].begin(),
                                          buffers[static_cast<std::size_t>(i)].end(), [&](int v) { return v == i; }));
          }
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("a rank sends to itself, small and large, before or after its receive", "[multiproc][p2p]") {
  runRanks(2, [](int) {
    auto comm = Communicator::fromEnvironment();
    const int rank = comm.rank();
    auto small = message(rank, rank, 1, 10);
    comm.send(small.data(), small.size(), DataType::i32, rank, 1);  // completes: kept until received
    auto large = message(rank, rank, 2, 100000);
    Work sendLarge = comm.sendAsync(large.data(), large.size(), DataType::i32, rank, 2);
    std::vector<std::int32_t> gotLarge(100000), gotSmall(10);
    RANK_EXPECT(rank, comm.recv(gotLarge.data(), gotLarge.size(), DataType::i32, rank, 2) == rank);
    sendLarge.wait();
    RANK_EXPECT(rank, comm.recv(gotSmall.data(), gotSmall.size(), DataType::i32, Communicator::kAnySource, 1) == rank);
    RANK_EXPECT(rank, matches(gotLarge, rank, rank, 2) && matches(gotSmall, rank, rank, 1));
    return 0;
  });
}

TEST_CASE("a length mismatch fails the receive with both lengths; the channel keeps working", "[multiproc][p2p]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank();
        for (std::size_t count : {std::size_t{10}, std::size_t{50000}}) {
          if (rank == 0) {
            auto data = message(0, 1, 3, count);
            comm.send(data.data(), data.size(), DataType::i32, 1, 3);
          } else {
            std::vector<std::int32_t> wrong(count + 1);
            try {
              comm.recv(wrong.data(), wrong.size(), DataType::i32, 0, 3);
              std::fprintf(stderr, "a receive of the wrong length succeeded\n");
              return 1;
            } catch (const Error& e) {
              const std::string text = e.what();
              RANK_EXPECT(rank, e.code() == ErrorCode::InvalidUsage);
              RANK_EXPECT(rank, text.find(std::to_string(count * 4) + " B") != std::string::npos);
              RANK_EXPECT(rank, text.find(std::to_string((count + 1) * 4) + " B") != std::string::npos);
            }
          }
          // The next message goes through as usual.
          if (rank == 0) {
            auto data = message(0, 1, 4, 100);
            comm.send(data.data(), data.size(), DataType::i32, 1, 4);
          } else {
            std::vector<std::int32_t> got(100);
            comm.recv(got.data(), got.size(), DataType::i32, 0, 4);
            RANK_EXPECT(rank, matches(got, 0, 1, 4));
          }
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("a receive nobody sends to times out naming itself; later messages still work", "[multiproc][p2p]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  bootstrap::LaunchOptions options = over(transport);
  options.environment["BANYAN_TIMEOUT"] = "1500ms";
  runRanks(
      2,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        const int rank = comm.rank();
        if (rank == 1) {
          std::int32_t value = 0;
          try {
            comm.recv(&value, 1, DataType::i32, 0, 77);
            std::fprintf(stderr, "a receive with no sender succeeded\n");
            return 1;
          } catch (const Error& e) {
            const std::string text = e.what();
            RANK_EXPECT(rank, e.code() == ErrorCode::Timeout);
            RANK_EXPECT(rank, text.find("recv #1 from rank 0") != std::string::npos);
            RANK_EXPECT(rank, text.find("tag=77") != std::string::npos);
          }
          // A large send whose receive is never posted times out too, at the sender.
        } else {
          std::vector<std::int32_t> large(100000, 1);
          try {
            comm.send(large.data(), large.size(), DataType::i32, 1, 78);
            std::fprintf(stderr, "a large send with no receive succeeded\n");
            return 1;
          } catch (const Error& e) {
            RANK_EXPECT(rank, e.code() == ErrorCode::Timeout);
            RANK_EXPECT(rank, std::string(e.what()).find("its receive was never posted") != std::string::npos);
          }
        }
        comm.barrier();
        std::int32_t value = rank == 0 ? 5 : 0;
        if (rank == 0) {
          comm.send(&value, 1, DataType::i32, 1, 79);
        } else {
          comm.recv(&value, 1, DataType::i32, 0, 79);
          RANK_EXPECT(rank, value == 5);
        }
        return 0;
      },
      options);
}

TEST_CASE("send/recv run beside collectives, on a parent and its split halves", "[multiproc][p2p][split]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      4,
      [](int) {
        auto parent = Communicator::fromEnvironment();
        const int rank = parent.rank();
        auto half = parent.split(rank / 2, rank);
        RANK_EXPECT(rank, half.has_value() && half->size() == 2);
        for (int round = 0; round < 10; ++round) {
          // A ring of large messages on the parent, a swap inside each half, and an allreduce on
          // each, all in flight together; receives posted before the collectives, sends after.
          const int next = (rank + 1) % 4, previous = (rank + 3) % 4;
          std::vector<std::int32_t> ringIn(90000, -1), swapIn(500, -1);
          Work ringRecv = parent.recvAsync(ringIn.data(), ringIn.size(), DataType::i32, previous, round);
          Work swapRecv = half->recvAsync(swapIn.data(), swapIn.size(), DataType::i32, 1 - half->rank(), round);
          std::vector<std::int64_t> sum(3000, rank);
          Work reduce = parent.allreduceAsync(sum.data(), sum.data(), sum.size(), DataType::i64, ReduceOp::sum);
          std::vector<std::int64_t> halfSum(100, rank);
          Work halfReduce =
              half->allreduceAsync(halfSum.data(), halfSum.data(), halfSum.size(), DataType::i64, ReduceOp::sum);
          auto ringOut = message(rank, next, round, 90000);
          auto swapOut = message(half->rank(), 1 - half->rank(), round, 500);
          Work ringSend = parent.sendAsync(ringOut.data(), ringOut.size(), DataType::i32, next, round);
          Work swapSend = half->sendAsync(swapOut.data(), swapOut.size(), DataType::i32, 1 - half->rank(), round);
          for (Work* w : {&ringRecv, &swapRecv, &reduce, &halfReduce, &ringSend, &swapSend}) w->wait();
          RANK_EXPECT(rank, matches(ringIn, previous, rank, round));
          RANK_EXPECT(rank, matches(swapIn, 1 - half->rank(), half->rank(), round));
          RANK_EXPECT(rank, sum[2999] == 6);
          RANK_EXPECT(rank, halfSum[99] == (rank / 2) * 4 + 1);
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("send/recv refuse bad arguments naming them", "[multiproc][p2p]") {
  runRanks(2, [](int) {
    auto comm = Communicator::fromEnvironment();
    const int rank = comm.rank();
    std::int32_t value = 0;
    const auto refuses = [&](auto call, const char* needle) {
      try {
        call();
      } catch (const Error& e) {
        if (e.code() == ErrorCode::InvalidUsage && std::string(e.what()).find(needle) != std::string::npos) return true;
        std::fprintf(stderr, "wrong error: %s\n", e.what());
        return false;
      }
      std::fprintf(stderr, "no error for '%s'\n", needle);
      return false;
    };
    RANK_EXPECT(rank, refuses([&] { comm.send(&value, 1, DataType::i32, 2, 0); }, "peer 2 is outside 0..1"));
    RANK_EXPECT(
        rank, refuses([&] { comm.send(&value, 1, DataType::i32, Communicator::kAnySource, 0); }, "peer -1 is outside"));
    RANK_EXPECT(rank, refuses([&] { comm.recv(&value, 1, DataType::i32, 0, -3); }, "tag -3 is negative"));
    RANK_EXPECT(rank, refuses([&] { comm.recv(nullptr, 4, DataType::i32, 0, 1); }, "buffer is null"));
    RANK_EXPECT(rank, refuses([&] { comm.send(&value, 1, static_cast<DataType>(99), 0, 1); }, "invalid data type"));
    return 0;
  });
}
