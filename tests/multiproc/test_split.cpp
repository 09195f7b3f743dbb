// Communicator::split and subset: the new communicators have the right members and order, work
// on their own, and never mix messages with their parent or each other, even with operations
// of all three in flight at once.

#include "support/multiproc.hpp"

#include <banyan/banyan.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace banyan;
using banyan::test::over;
using banyan::test::runRanks;

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
    // And two such groups in one process do not meet either (both are number 0 inside).
    auto second = Communicator::createWithOwnStore(std::make_shared<PrefixStore>("second", server), rank, 3);
    std::int64_t value = rank;
    second.allreduce(&value, 1, DataType::i64, ReduceOp::max);
    RANK_EXPECT(rank, value == 2);
    group.allreduce(values.data(), values.size(), DataType::i64, ReduceOp::sum);
    RANK_EXPECT(rank, values[999] == 18);
    return 0;
  });
}
