// Communicator::split and subset: the new communicators have the right members and order, work
// on their own, and never mix messages with their parent or each other, even with operations
// of all three in flight at once.

#include "support/multiproc.hpp"

#include <banyan/banyan.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
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

// This process's established TCP connections (its socket descriptors found in /proc/net/tcp and
// tcp6 in state 01): what a communicator has opened between ranks, plus the store's.
int establishedTcpConnections() {
  std::set<std::string> mine;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) mine.insert(target.substr(8, target.size() - 9));
  }
  int count = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state == "01" && mine.count(inode) != 0) ++count;
    }
  }
  return count;
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

// Issue 23: groups made from a communicator send over its connections. Over TCP, once the parent
// has connected every pair, eight more communicators (the world, two halves, four pairs, a
// reversed copy) add no connection; with BANYAN_SHARE_CONNECTIONS=0 they open their own (which
// shows the count can see them).
TEST_CASE("split communicators open no TCP connection of their own", "[multiproc][split]") {
  const bool share = GENERATE(true, false);
  CAPTURE(share);
  auto options = over("tcp");
  options.environment["BANYAN_SHARE_CONNECTIONS"] = share ? "1" : "0";
  runRanks(
      4,
      [share](int) {
        auto parent = Communicator::fromEnvironment();
        const int rank = parent.rank();
        // Every pair connected, on both of the parent's transports.
        std::vector<std::int32_t> out(4, rank), in(4, -1);
        parent.alltoall(out.data(), in.data(), 1, DataType::i32);
        for (int peer = 0; peer < 4; ++peer) {
          if (peer == rank) continue;
          std::int32_t value = rank, got = -1;
          Work sent = parent.sendAsync(&value, 1, DataType::i32, peer, 0);
          parent.recv(&got, 1, DataType::i32, peer, 0);
          sent.wait();
          RANK_EXPECT(rank, got == peer);
        }
        const int before = establishedTcpConnections();

        std::vector<Communicator> groups;
        auto keep = [&](std::optional<Communicator> made) {
          if (made) groups.push_back(std::move(*made));
        };
        keep(parent.split(0, rank));                               // the world
        keep(parent.split(rank / 2, rank));                        // halves: {0,1} {2,3}
        keep(parent.split(rank % 2, rank));                        // pairs: {0,2} {1,3}
        keep(parent.split(rank == 0 || rank == 3 ? 0 : 1, rank));  // pairs: {0,3} {1,2}
        keep(parent.split(0, -rank));                              // the world, reversed
        RANK_EXPECT(rank, groups.size() == 5);
        for (auto& group : groups) {
          std::int64_t value = group.rank() + 1;
          group.allreduce(&value, &value, 1, DataType::i64, ReduceOp::sum);
          RANK_EXPECT(rank, value == group.size() * (group.size() + 1) / 2);
          std::vector<std::int32_t> mine(static_cast<std::size_t>(group.size()), group.rank()),
              theirs(static_cast<std::size_t>(group.size()), -1);
          group.alltoall(mine.data(), theirs.data(), 1, DataType::i32);
          for (int r = 0; r < group.size(); ++r) RANK_EXPECT(rank, theirs[static_cast<std::size_t>(r)] == r);
        }
        const int after = establishedTcpConnections();
        if (share) {
          RANK_EXPECT(rank, after == before);
        } else {
          RANK_EXPECT(rank, after > before);
        }
        // And the parent still works over the connections its groups used.
        std::int64_t sum = rank;
        parent.allreduce(&sum, &sum, 1, DataType::i64, ReduceOp::sum);
        RANK_EXPECT(rank, sum == 6);
        return 0;
      },
      options);
}
