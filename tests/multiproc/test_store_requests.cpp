// What creating a communicator costs the store, per rank: every rank but rank 0 makes the same
// number of requests whatever the job's size (rank 0 gathers the host identities, n - 1 reads),
// so the store's load grows with the ranks, not their square (issue 19). The count is the one
// each communicator prints in its INFO summary ("created with N store requests from rank R").

#include "support/shell.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <string>

namespace {

const std::string kBuild = BANYAN_BUILD_DIR;

// Rank -> store requests its communicator's creation made, from a job of `ranks` ranks.
std::map<int, int> requestsByRank(int ranks, const std::string& transport) {
  const auto [status, output] = banyan::test::runShell(
      fmt::format("BANYAN_DEBUG=info BANYAN_TRANSPORT={} timeout 120 {}/tools/banyan-bench allreduce -np {} -b 8 -e 8 "
                  "-n 2 -w 0",
                  transport, kBuild, ranks));
  INFO(output);
  REQUIRE(status == 0);
  std::map<int, int> requests;
  const std::regex line("created with (\\d+) store requests from rank (\\d+)");
  for (std::sregex_iterator it(output.begin(), output.end(), line), end; it != end; ++it) {
    requests[std::stoi((*it)[2])] = std::stoi((*it)[1]);
  }
  REQUIRE(requests.size() == static_cast<std::size_t>(ranks));
  return requests;
}

}  // namespace

TEST_CASE("creating a communicator costs every rank but 0 the same store requests at any size", "[multiproc][scale]") {
  const std::string transport = GENERATE(as<std::string>{}, "tcp", "shm");
  const auto small = requestsByRank(3, transport);
  const auto large = requestsByRank(12, transport);
  const int each = small.at(1);
  for (const auto& [rank, count] : small) {
    if (rank != 0) CHECK(count == each);
  }
  for (const auto& [rank, count] : large) {
    INFO("rank " << rank << " of 12 made " << count << " requests; rank 1 of 3 made " << each);
    if (rank != 0) CHECK(count == each);
  }
  // Rank 0 reads every other rank's host identity once, and nothing else grows with the job.
  CHECK(large.at(0) - small.at(0) == 12 - 3);
}
