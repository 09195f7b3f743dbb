// BANYAN_TUNE_FILE: the measured table's grammar, its errors (file:line, what is wrong), its
// layout check, its hash, and where it stands in the selector's order (after BANYAN_ALGO's
// bands, before the shared-memory engine and the cost model).

#include "support/selection.hpp"
#include "topology/topology.hpp"
#include "tuning/algo_override.hpp"
#include "tuning/selector.hpp"
#include "tuning/tune_table.hpp"

#include <banyan/error.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

using banyan::Collective;
using banyan::test::simulatedHosts;
using banyan::tuning::Algorithm;
namespace topology = banyan::topology;
namespace tuning = banyan::tuning;

namespace {

// Every error of the table is the caller's.
std::string errorOf(const std::function<void()>& f) {
  return banyan::test::errorOf(f, banyan::ErrorCode::InvalidUsage);
}

const char* kTable =
    "# measured by hand\n"
    "layout 2x2\n"
    "allreduce 0-2K recursive-doubling   # fastest at 1 KiB\n"
    "\n"
    "allreduce 2K-8M hierarchical\n"
    "allgather 0-64K bruck\n";

}  // namespace

TEST_CASE("a tuning table parses: layout, bands, comments", "[unit][tuning]") {
  const tuning::TuneTable table = tuning::parseTuneTable(kTable, "t.tune");
  CHECK(table.hosts == 2);
  CHECK(table.ranksPerHost == 2);
  REQUIRE(table.entries.size() == 3);
  CHECK(table.entries[1].line == 5);
  CHECK(table.entries[1].band.low == 2048);
  CHECK(table.entries[1].band.high == 8 << 20);
  CHECK(table.find(Collective::Allreduce, 2047)->band.algorithm == Algorithm::RecursiveDoubling);
  CHECK(table.find(Collective::Allreduce, 2048)->band.algorithm == Algorithm::Hierarchical);
  CHECK(table.find(Collective::Allreduce, 8 << 20) == nullptr);  // beyond what was measured
  CHECK(table.find(Collective::Broadcast, 8) == nullptr);
  // The hash is of what the table chooses, not of its spelling; any band changes it.
  CHECK(tuning::parseTuneTable("layout 2x2\nallreduce 0-2048 rd\nallreduce 2048-8388608 hierarchical\n"
                               "allgather 0-65536 bruck # other comment\n",
                               "other.tune")
            .hash() == table.hash());
  CHECK(tuning::parseTuneTable("layout 2x2\nallreduce 0-2K recursive-doubling\nallreduce 2K-8M ring\n"
                               "allgather 0-64K bruck\n",
                               "t.tune")
            .hash() != table.hash());
  CHECK(tuning::parseTuneTable("layout 4x1\nallreduce 0-2K recursive-doubling\nallreduce 2K-8M ring\n"
                               "allgather 0-64K bruck\n",
                               "t.tune")
            .hash() != tuning::parseTuneTable("layout 2x2\nallreduce 0-2K recursive-doubling\nallreduce 2K-8M "
                                              "ring\nallgather 0-64K bruck\n",
                                              "t.tune")
                           .hash());
  // Tables of separate collectives can be concatenated: the same layout may repeat.
  CHECK(tuning::parseTuneTable("layout 1x4\nallreduce 0-1K ring\nlayout 1x4\nallgather 0-1K bruck\n", "c.tune")
            .entries.size() == 2);
}

TEST_CASE("a bad tuning table names file:line and what is wrong", "[unit][tuning]") {
  const auto bad = [](const std::string& text) { return errorOf([&] { tuning::parseTuneTable(text, "my.tune"); }); };
  using Catch::Contains;
  CHECK_THAT(bad("allreduce 0-1K ring\n"), Contains("my.tune:1") && Contains("'layout HOSTSxRANKS' line must come"));
  CHECK_THAT(bad("# nothing\n"), Contains("my.tune: no 'layout HOSTSxRANKS' line"));
  CHECK_THAT(bad("layout 2by2\n"), Contains("my.tune:1") && Contains("expected 'layout HOSTSxRANKS'"));
  CHECK_THAT(bad("layout 0x2\n"), Contains("my.tune:1") && Contains("'0' is not a count"));
  CHECK_THAT(bad("layout 2x2\nlayout 4x1\n"), Contains("my.tune:2") && Contains("contradicts the earlier layout 2x2"));
  CHECK_THAT(bad("layout 2x2\n\nallreduce 0-1K\n"),
             Contains("my.tune:3") && Contains("expected 'COLLECTIVE LOW-HIGH ALGORITHM'"));
  CHECK_THAT(bad("layout 2x2\nallreduse 0-1K ring\n"), Contains("my.tune:2: unknown collective 'allreduse'"));
  CHECK_THAT(bad("layout 2x2\nallreduce 1K- ring\n"), Contains("my.tune:2") && Contains("must be LOW-HIGH"));
  CHECK_THAT(bad("layout 2x2\nallreduce 1K ring\n"), Contains("my.tune:2") && Contains("must be LOW-HIGH"));
  CHECK_THAT(bad("layout 2x2\nallreduce 0-1Q ring\n"), Contains("my.tune:2") && Contains("'1Q' is not a size"));
  CHECK_THAT(bad("layout 2x2\nallreduce 4K-1K ring\n"), Contains("my.tune:2") && Contains("is empty"));
  CHECK_THAT(bad("layout 2x2\nallreduce 0-1K bruck\n"),
             Contains("my.tune:2: allreduce has no algorithm 'bruck' (it has: ring,"));
  CHECK_THAT(bad("layout 3x1\nallgather 0-1K recursive-doubling\n"),
             Contains("my.tune:2") && Contains("needs a power-of-two rank count, not 3"));
  CHECK_THAT(bad("layout 2x2\nallreduce 0-4K ring\nallreduce 1K-8K rd\n"),
             Contains("my.tune:3") && Contains("overlaps the band of line 2"));
  CHECK_THAT(errorOf([] { tuning::loadTuneTable("/nonexistent/x.tune"); }),
             Contains("BANYAN_TUNE_FILE: cannot read '/nonexistent/x.tune'"));
}

TEST_CASE("a tuning table matches only the layout it was measured on", "[unit][tuning]") {
  const tuning::TuneTable table = tuning::parseTuneTable(kTable, "t.tune");
  CHECK(table.layoutMismatch(simulatedHosts(2, 2)).empty());
  CHECK(table.layoutMismatch(simulatedHosts(4, 1)) ==
        "t.tune was measured on 2x2 (hosts x ranks per host), this "
        "communicator is 4x1");
  CHECK_THAT(table.layoutMismatch(simulatedHosts(1, 4)), Catch::Contains("this communicator is 1x4"));
  // Hosts holding different rank counts match no table.
  topology::Topology uneven = simulatedHosts(2, 2);
  uneven.hosts[0].ranks.push_back(4);
  uneven.hosts[1].ranks.pop_back();
  CHECK_THAT(table.layoutMismatch(uneven), Catch::Contains("holding different rank counts"));
}

TEST_CASE("the selector follows the table where it covers, after BANYAN_ALGO, before the model", "[unit][tuning]") {
  tuning::Selector plain(simulatedHosts(2, 2), {});
  // The table disagrees with the model on purpose (ring where the model takes the two-level
  // form or recursive doubling), so following it is visible.
  REQUIRE(plain.choose(Collective::Allreduce, 4 << 20).algorithm == Algorithm::Hierarchical);
  REQUIRE(plain.choose(Collective::Allreduce, 8).algorithm == Algorithm::RecursiveDoubling);
  tuning::Selector selector(simulatedHosts(2, 2), tuning::parseAlgoOverride("allreduce:0-16:double-tree"));
  selector.setTable(tuning::parseTuneTable("layout 2x2\nallreduce 0-8M ring\n", "t.tune"));
  const auto forced = selector.choose(Collective::Allreduce, 8);
  CHECK(forced.algorithm == Algorithm::DoubleTree);
  CHECK(forced.forced);
  const auto measured = selector.choose(Collective::Allreduce, 4 << 20);
  CHECK(measured.algorithm == Algorithm::Ring);
  CHECK(measured.measured);
  CHECK(measured.why == "table line 2");
  const auto model = selector.choose(Collective::Allreduce, 8 << 20);  // not covered
  CHECK(model.algorithm == plain.choose(Collective::Allreduce, 8 << 20).algorithm);
  CHECK_FALSE(model.measured);
  CHECK_THAT(model.why, Catch::Contains("cost model"));
}

TEST_CASE("one host: the table wins over the shared-memory engine, and shm from a table needs the engine",
          "[unit][tuning]") {
  tuning::Selector selector(simulatedHosts(1, 4), {});
  selector.setSharedMemory([](Collective, std::size_t) { return true; }, "");
  selector.setTable(tuning::parseTuneTable("layout 1x4\nallreduce 0-1M rabenseifner\nallreduce 1M-4M shm\n", "o.tune"));
  CHECK(selector.choose(Collective::Allreduce, 64 << 10).algorithm == Algorithm::Rabenseifner);
  CHECK(selector.choose(Collective::Allreduce, 2 << 20).algorithm == Algorithm::SharedMemory);
  CHECK(selector.choose(Collective::Allreduce, 2 << 20).measured);
  CHECK(selector.choose(Collective::Allreduce, 8 << 20).algorithm == Algorithm::SharedMemory);  // the engine's own
  CHECK_FALSE(selector.choose(Collective::Allreduce, 8 << 20).measured);
  // Without the engine (BANYAN_SHM_COLLECTIVES=0) a shm band leaves the call to the model.
  tuning::Selector off(simulatedHosts(1, 4), {});
  off.setSharedMemory({}, "BANYAN_SHM_COLLECTIVES=0");
  off.setTable(tuning::parseTuneTable("layout 1x4\nallreduce 1M-4M shm\n", "o.tune"));
  const auto choice = off.choose(Collective::Allreduce, 2 << 20);
  CHECK(choice.algorithm != Algorithm::SharedMemory);
  CHECK_FALSE(choice.measured);
}

TEST_CASE("deterministic mode: bands, tables and the model do not choose for reductions",
          "[unit][tuning][deterministic]") {
  for (bool engine : {false, true}) {
    INFO("shared-memory engine " << engine);
    tuning::Selector selector(simulatedHosts(engine ? 1 : 2, 4),
                              tuning::parseAlgoOverride("allreduce:0-:ring;reduce_scatter:0-:ring;reduce:0-:chain;"
                                                        "allgather:0-:ring"));
    if (engine) selector.setSharedMemory([](Collective, std::size_t) { return true; }, "");
    selector.setTable(tuning::parseTuneTable(
        engine ? "layout 1x4\nallreduce 0-1G rabenseifner\n" : "layout 2x4\nallreduce 0-1G rabenseifner\n", "d.tune"));
    CHECK(selector.choose(Collective::Allreduce, 1 << 20).algorithm == Algorithm::Ring);  // the band, before
    selector.setDeterministic(true);
    for (std::size_t bytes : {std::size_t{8}, std::size_t{64} << 10, std::size_t{64} << 20}) {
      const auto allreduce = selector.choose(Collective::Allreduce, bytes);
      CHECK(allreduce.algorithm == (engine ? Algorithm::SharedMemory : Algorithm::Ordered));
      CHECK_FALSE(allreduce.forced);
      CHECK(allreduce.why == "deterministic");
      CHECK(selector.choose(Collective::ReduceScatter, bytes).algorithm == Algorithm::Ordered);
      CHECK(selector.choose(Collective::Reduce, bytes).algorithm == Algorithm::Ordered);
      // Collectives that only move data choose as before.
      CHECK(selector.choose(Collective::Allgather, bytes).algorithm == Algorithm::Ring);
    }
  }
}
