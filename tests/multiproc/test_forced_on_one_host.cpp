// A forced algorithm on one host (issue 4): the shared-memory engine takes allreduce and
// allgather by default, but a BANYAN_ALGO band wins over it and its schedule really runs over the
// transport. Proved three ways on 1 host x 4 ranks: the exact results, the INFO log naming the
// band, and the flight recorder's record of what each call ran ("algorithm": "ring" rather
// than "shm"). Also: "shm" is a name a band can force, and is refused by name where the
// communicator has no engine.

#include <map>
#include <string>

#include "support/files.hpp"
#include "support/multiproc.hpp"
#include "support/one_host_job.hpp"
#include "support/shell.hpp"

using namespace banyan;
using banyan::test::makeTempDir;
using banyan::test::occurrences;
using banyan::test::over;
using banyan::test::runRanks;

namespace {

using Evidence = banyan::test::OneHostEvidence;

Evidence runJob(const std::string& algo) {
  std::map<std::string, std::string> environment;
  if (!algo.empty()) environment["BANYAN_ALGO"] = algo;
  return banyan::test::runOneHostJob(makeTempDir("banyan-forced"), environment);
}

}  // namespace

TEST_CASE("one host x 4: a forced BANYAN_ALGO runs its schedule, not the shared-memory engine",
          "[multiproc][topology]") {
  const Evidence e = runJob("allreduce:0-:ring;allgather:0-:bruck");
  INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
  CHECK_THAT(e.log, Catch::Contains("allreduce of 256 B per rank uses ring (BANYAN_ALGO band 0- B)"));
  CHECK_THAT(e.log, Catch::Contains("allgather of 4 B per rank uses bruck (BANYAN_ALGO band 0- B)"));
  CHECK(e.log.find("uses shm") == std::string::npos);
  // Four calls, each recorded with the schedule that ran it.
  CHECK(occurrences(e.flight, "\"algorithm\": \"ring\"") == 2);
  CHECK(occurrences(e.flight, "\"algorithm\": \"bruck\"") == 2);
  CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 0);
}

TEST_CASE("one host x 4: unforced sizes go to the engine, a band moves only its own sizes", "[multiproc][topology]") {
  SECTION("no BANYAN_ALGO: every call in the engine, logged as shm") {
    const Evidence e = runJob("");
    INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
    CHECK_THAT(e.log, Catch::Contains("allreduce of 256 B per rank uses shm (one host)"));
    CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 4);
  }
  SECTION("a band for small allreduces only") {
    const Evidence e = runJob("allreduce:0-4K:recursive-doubling");
    INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
    CHECK_THAT(e.log, Catch::Contains("uses recursive-doubling (BANYAN_ALGO band 0-4096 B)"));
    CHECK(occurrences(e.flight, "\"algorithm\": \"recursive-doubling\"") == 1);
    CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 3);
  }
  SECTION("shm forced by name") {
    const Evidence e = runJob("allreduce:0-:shm;allgather:0-:shm");
    INFO("log:\n" << e.log << "\nflight recorder:\n" << e.flight);
    CHECK_THAT(e.log, Catch::Contains("uses shm (BANYAN_ALGO band 0- B)"));
    CHECK(occurrences(e.flight, "\"algorithm\": \"shm\"") == 4);
  }
}

TEST_CASE("forcing shm where the communicator has no engine is refused by name", "[multiproc][topology]") {
  bootstrap::LaunchOptions options = over("shm-messages");  // BANYAN_SHM_COLLECTIVES=0
  options.environment["BANYAN_ALGO"] = "allgather:0-:shm";
  options.environment["BANYAN_DEBUG"] = "none";
  options.environment["BANYAN_TIMEOUT"] = "20s";
  runRanks(
      2,
      [](int rank) {
        try {
          Communicator::fromEnvironment();
        } catch (const Error& e) {
          const std::string what = e.what();
          RANK_EXPECT(rank, e.code() == ErrorCode::InvalidUsage);
          RANK_EXPECT(rank, what.find("BANYAN_ALGO forces shm for allgather: this communicator has no "
                                      "shared-memory engine (BANYAN_SHM_COLLECTIVES=0)") != std::string::npos);
          return 0;
        }
        std::fprintf(stderr, "rank %d: a forced shm band was accepted without the engine\n", rank);
        return 1;
      },
      options);
}
