// BANYAN_DEBUG_SUBSYS parsing, the subsystem filter, and the algorithm table the INFO log shows.

#include <banyan/error.hpp>
#include <catch2/catch.hpp>

#include "common/log.hpp"
#include "config/config.hpp"
#include "observe/communicator_summary.hpp"
#include "tuning/selection.hpp"

using namespace banyan;
using log::bit;
using log::Subsystem;

TEST_CASE("BANYAN_DEBUG_SUBSYS lists subsystems, all, or all but some", "[observe][config]") {
  CHECK(config::parseSubsystems("all", "X") == log::kAllSubsystems);
  CHECK(config::parseSubsystems("init,COLL", "X") == (bit(Subsystem::Init) | bit(Subsystem::Coll)));
  CHECK(config::parseSubsystems("^tuning", "X") == (log::kAllSubsystems & ~bit(Subsystem::Tuning)));
  CHECK_THROWS_WITH(config::parseSubsystems("init,netwrok", "BANYAN_DEBUG_SUBSYS"),
                    Catch::Contains("BANYAN_DEBUG_SUBSYS") && Catch::Contains("'netwrok'"));
  CHECK_THROWS_AS(config::parseSubsystems("", "X"), Error);
}

TEST_CASE("the subsystem filter narrows INFO and TRACE, never WARN", "[observe]") {
  log::setLevel(log::LogLevel::Info);
  log::setSubsystems(bit(Subsystem::Transport));
  CHECK(log::enabled(log::LogLevel::Info, Subsystem::Transport));
  CHECK(!log::enabled(log::LogLevel::Info, Subsystem::Tuning));
  CHECK(!log::enabled(log::LogLevel::Trace, Subsystem::Transport));  // above the level
  CHECK(log::enabled(log::LogLevel::Warn, Subsystem::Tuning));
  log::setSubsystems(log::kAllSubsystems);
  log::setLevel(log::LogLevel::Warn);
}

TEST_CASE("the algorithm table gives the exact sizes where the selection changes", "[observe]") {
  // With the size-threshold selection (tuning::choose) as the chooser: the table follows it exactly.
  const auto byThresholds = [](Collective kind, std::size_t bytes) { return tuning::choose(kind, 4, bytes); };
  const auto table = observe::algorithmTable({}, byThresholds);
  REQUIRE(table.size() == 10);
  CHECK(table[0] == fmt::format("allreduce: 0-{} B recursive-doubling, {} B and up ring",
                                tuning::kRecursiveDoublingMaxBytes, tuning::kRecursiveDoublingMaxBytes + 1));
  // Allgather on 4 ranks: Bruck, then recursive doubling, then the ring (sizes are one block).
  CHECK(table[1] == fmt::format("allgather: 0-{} B bruck, {}-{} B recursive-doubling, {} B and up ring",
                                tuning::kBruckMaxOutputBytes / 4, tuning::kBruckMaxOutputBytes / 4 + 1,
                                tuning::kRecursiveDoublingAllgatherMaxOutputBytes / 4,
                                tuning::kRecursiveDoublingAllgatherMaxOutputBytes / 4 + 1));
  CHECK(table[9] == "barrier: dissemination");
  // The shared-memory engine's claim shows as "shm".
  const auto shm =
      observe::algorithmTable([](Collective kind, std::size_t) { return kind == Collective::Allreduce; }, byThresholds);
  CHECK(shm[0] == "allreduce: shm");
}

TEST_CASE("rank lists collapse runs", "[observe]") {
  CHECK(observe::rankList({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7");
  CHECK(observe::rankList({}) == "");
}
