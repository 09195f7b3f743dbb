// Communicator::split and subset: the new communicators have the right members and order, work
// on their own, and never mix messages with their parent or each other, even with operations
// of all three in flight at once.

#include "support/multiproc.hpp"
#include "support/ports.hpp"
#include "support/shell.hpp"

#include <fmt/format.h>

#include <banyan/banyan.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace banyan;
using banyan::test::over;
using banyan::test::runRanks;

namespace {

// Threads of this process now (/proc/self/task), for "what does a communicator start".
int threadCount() {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)entry;
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("split by color orders by key, and parent and children run interleaved", "[multiproc][split]") {
  const std::string transport = BANYAN_EACH_TRANSPORT_AND_OFI();
  runRanks(
      6,
      [](int) {
        auto parent = Communicator::fromEnvironment();
        const int rank = parent.rank();
        // Two colors (even and odd ranks), keyed in reverse: the highest parent rank comes first.
        auto byParity = parent.split(rank % 2, -rank);
        RANK_EXPECT(rank, byParity.has_value());
        RANK_EXPECT(rank, byParity->size() == 3);
        RANK_EXPECT(rank, byParity->rank() == 2 - rank / 2);
        // Two halves, kept in parent order (equal keys: ties go by parent rank).
        auto byHalf = parent.split(rank / 3, 0);
        RANK_EXPECT(rank, byHalf.has_value() && byHalf->size() == 3 && byHalf->rank() == rank % 3);

        for (int round = 0; round < 20; ++round) {
          std::vector<std::int64_t> a(5000, rank + round), b(5000, rank * 10 + round), c(3000, rank * 100 + round);
          Work wa = parent.allreduceAsync(a.data(), a.data(), a.size(), DataType::i64, ReduceOp::sum);
          Work wb = byParity->allreduceAsync(b.data(), b.data(), b.size(), DataType::i64, ReduceOp::sum);
          Work wc = byHalf->allreduceAsync(c.data(), c.data(), c.size(), DataType::i64, ReduceOp::max);
          wc.wait();
          wb.wait();
          wa.wait();
          const std::int64_t parity = rank % 2;  // members: parity, parity + 2, parity + 4
          RANK_EXPECT(rank, a[4999] == 15 + 6 * round);
          RANK_EXPECT(rank, b[4999] == 10 * (3 * parity + 6) + 3 * round);
          RANK_EXPECT(rank, c[2999] == 100 * (rank / 3 * 3 + 2) + round);
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("a negative color joins no communicator, and later communicators still agree", "[multiproc][split]") {
  const std::string transport = BANYAN_EACH_TRANSPORT_AND_OFI();
  runRanks(
      4,
      [](int) {
        auto parent = Communicator::fromEnvironment();
        const int rank = parent.rank();
        auto some = parent.split(rank == 0 ? -1 : 7, rank);
        RANK_EXPECT(rank, some.has_value() == (rank != 0));
        if (some) {
          RANK_EXPECT(rank, some->size() == 3 && some->rank() == rank - 1);
          std::int32_t value = rank;
          some->allreduce(&value, 1, DataType::i32, ReduceOp::sum);
          RANK_EXPECT(rank, value == 6);
        }
        // Made after the split on every rank, including the one that joined none.
        auto everyone = parent.split(0, 0);
        std::int32_t value = 1;
        everyone->allreduce(&value, 1, DataType::i32, ReduceOp::sum);
        RANK_EXPECT(rank, value == 4);
        return 0;
      },
      over(transport));
}

TEST_CASE("subset takes the listed ranks in list order", "[multiproc][split]") {
  const std::string transport = BANYAN_EACH_TRANSPORT_AND_OFI();
  runRanks(
      5,
      [](int) {
        auto parent = Communicator::fromEnvironment();
        const int rank = parent.rank();
        const std::vector<int> members{4, 1, 3};
        auto sub = parent.subset(members);
        const int position = rank == 4 ? 0 : rank == 1 ? 1 : rank == 3 ? 2 : -1;
        RANK_EXPECT(rank, sub.has_value() == (position >= 0));
        if (sub) {
          RANK_EXPECT(rank, sub->rank() == position && sub->size() == 3);
          std::int32_t mine = rank, all[3] = {};
          sub->allgather(&mine, all, 1, DataType::i32);
          RANK_EXPECT(rank, all[0] == 4 && all[1] == 1 && all[2] == 3);
        }
        const std::vector<int> twice{1, 1};
        try {
          parent.subset(twice);
          std::fprintf(stderr, "rank %d: a duplicate rank was accepted\n", rank);
          return 1;
        } catch (const Error& error) {
          RANK_EXPECT(rank, error.code() == ErrorCode::InvalidUsage && std::strstr(error.what(), "listed twice"));
        }
        return 0;
      },
      over(transport));
}

TEST_CASE("createWithOwnStore: ranks that made different communicators before still meet", "[multiproc][split]") {
  runRanks(3, [](int) {
    auto world = Communicator::fromEnvironment();
    const int rank = world.rank();
    const std::string address = std::getenv("BANYAN_STORE_ADDR");
    const auto colon = address.rfind(':');
    auto server = std::make_shared<TcpStore>(address.substr(0, colon),
                                             static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
    // Rank 1 alone makes one more communicator, as a rank that belongs to an extra torch
    // subgroup does; create() numbers it, so rank 1's later numbers run ahead of the others'.
    if (rank == 1) {
      auto alone = Communicator::create(std::make_shared<PrefixStore>("alone", server), 0, 1);
      std::int32_t one = 1;
      alone.allreduce(&one, 1, DataType::i32, ReduceOp::sum);
      RANK_EXPECT(rank, one == 1);
    }
    // A store of its own needs no agreement on those numbers.
    auto group = Communicator::createWithOwnStore(std::make_shared<PrefixStore>("group", server), rank, 3);
    std::vector<std::int64_t> values(1000, rank + 1);
    group.allreduce(values.data(), values.size(), DataType::i64, ReduceOp::sum);
    RANK_EXPECT(rank, values[999] == 6);
    // And two such groups in one process do not meet either (both are number 0 inside). This
    // one runs on the world's event loop and progress thread, as a torch subgroup does: it
    // starts its control channel's thread only.
    const int threadsBefore = threadCount();
    auto second = Communicator::createWithOwnStore(std::make_shared<PrefixStore>("second", server), rank, 3, {}, world);
    RANK_EXPECT(rank, threadCount() - threadsBefore == 1);
    std::int64_t value = rank;
    second.allreduce(&value, 1, DataType::i64, ReduceOp::max);
    RANK_EXPECT(rank, value == 2);
    group.allreduce(values.data(), values.size(), DataType::i64, ReduceOp::sum);
    RANK_EXPECT(rank, values[999] == 18);
    return 0;
  });
}

// Split communicators share their parent's event loop and progress thread (docs/architecture.md,
// "Groups over their parent's connections", step 1): each adds only its control channel's
// thread. They close in any order: a child closed while its parent has work in flight leaves
// the parent running, and a child goes on after its parent has closed.
TEST_CASE("split communicators run on their parent's progress thread, and close in any order", "[multiproc][split]") {
  const std::string transport = BANYAN_EACH_TRANSPORT();
  runRanks(
      4,
      [](int) {
        auto parent = std::make_unique<Communicator>(Communicator::fromEnvironment());
        const int rank = parent->rank();
        const int before = threadCount();
        auto pairs = parent->split(rank / 2, rank);
        auto all = parent->subset(std::vector<int>{3, 2, 1, 0});
        auto evens = parent->split(rank % 2 == 0 ? 0 : -1, rank);
        const int added = threadCount() - before;
        // Three communicators here (two on odd ranks), one control channel thread each.
        const int expected = rank % 2 == 0 ? 3 : 2;
        if (added != expected) std::fprintf(stderr, "rank %d: %d threads added, expected %d\n", rank, added, expected);
        RANK_EXPECT(rank, added == expected);

        // A child closed while its parent's operation is in flight.
        std::vector<float> big(1 << 18, 1.0f), small(64, 2.0f);
        Work inFlight = parent->allreduceAsync(big.data(), big.data(), big.size(), DataType::f32, ReduceOp::sum);
        pairs->allreduce(small.data(), small.data(), small.size(), DataType::f32, ReduceOp::sum);
        pairs.reset();
        inFlight.wait();
        RANK_EXPECT(rank, big.front() == 4.0f && big.back() == 4.0f && small[63] == 4.0f);

        // The parent goes first; its children go on alone.
        parent.reset();
        for (int round = 0; round < 5; ++round) {
          std::vector<std::int64_t> v(1000, rank + round);
          all->allreduce(v.data(), v.data(), v.size(), DataType::i64, ReduceOp::sum);
          RANK_EXPECT(rank, v[999] == 6 + 4 * round);
          if (evens) {
            std::int64_t x = rank;
            Work w = evens->allreduceAsync(&x, &x, 1, DataType::i64, ReduceOp::max);
            w.wait();
            RANK_EXPECT(rank, x == 2);
          }
        }
        return 0;
      },
      over(transport));
}

// Issue 23: groups made from a communicator send over its connections. examples/groups.cpp, 4
// ranks over TCP on loopback (torchrun-style variables): once the world has connected every
// pair, its tensor- and data-parallel splits and a reversed copy add no established connection
// (each rank counts its own in /proc/net/tcp); with BANYAN_SHARE_CONNECTIONS=0 every rank's
// count grows, which shows the count sees them. (On simulated hosts: test_multihost.cpp.)
TEST_CASE("split communicators open no TCP connection of their own", "[multiproc][split]") {
  for (const bool share : {true, false}) {
    CAPTURE(share);
    // POSIX sh (runShell): the ranks in the background, then every one's exit status.
    const auto [status, output] = banyan::test::runShell(fmt::format(
        "pids=''; for r in 3 2 1 0; do BANYAN_TRANSPORT=tcp BANYAN_SHARE_CONNECTIONS={1} BANYAN_TIMEOUT=60s RANK=$r "
        "WORLD_SIZE=4 MASTER_ADDR=127.0.0.1 MASTER_PORT={2} timeout 120 {0}/examples/groups_example & "
        "pids=\"$pids $!\"; done; s=0; for p in $pids; do wait $p || s=1; done; exit $s",
        BANYAN_BUILD_DIR, share ? 1 : 0, banyan::test::unusedPort()));
    INFO(output);
    CHECK(status == 0);
    CHECK(banyan::test::occurrences(output, "3 groups right") == 4);
    int unchanged = 0;
    for (int rank = 0; rank < 4; ++rank) {
      for (int n = 0; n < 64; ++n) {
        unchanged += static_cast<int>(banyan::test::occurrences(
            output,
            fmt::format("rank {}: 3 groups right; TCP connections before the groups {}, after {}\n", rank, n, n)));
      }
    }
    CHECK(unchanged == (share ? 4 : 0));
  }
}
