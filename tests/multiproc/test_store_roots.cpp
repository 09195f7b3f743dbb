// Several store roots (docs/launchers.md, "Several store roots"): a job of real processes
// (banyan-bench -np, banyan's launcher serving root 0) with BANYAN_STORE_ROOTS naming two more
// roots on loopback, which the first rank of each block serves. Every collective must come out
// right, and each root must get only its block's requests (and rank 0's published keys): the
// counts are those each rank prints at INFO, "per store root so far [a, b, c]".

#include "support/ports.hpp"
#include "support/shell.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::string kBuild = BANYAN_BUILD_DIR;
constexpr int kRanks = 6;
constexpr int kRoots = 3;  // the job's store and two more: blocks {0, 1}, {2, 3}, {4, 5}

std::string twoRoots() {
  return fmt::format("127.0.0.1:{},127.0.0.1:{}", banyan::test::unusedPort(), banyan::test::unusedPort());
}

// Rank -> the requests its creation sent each root.
std::map<int, std::vector<int>> requestsPerRoot(const std::string& output) {
  std::map<int, std::vector<int>> requests;
  const std::regex line("store requests from rank (\\d+), per store root so far \\[([0-9, ]+)\\]");
  for (std::sregex_iterator it(output.begin(), output.end(), line), end; it != end; ++it) {
    std::vector<int> counts;
    std::stringstream list((*it)[2].str());
    for (std::string item; std::getline(list, item, ',');) counts.push_back(std::stoi(item));
    requests[std::stoi((*it)[1])] = counts;
  }
  return requests;
}

}  // namespace

TEST_CASE("several store roots: every collective right, each root serving its block", "[multiproc][roots]") {
  const std::string collective = GENERATE(as<std::string>{}, "allreduce", "allgather", "reduce_scatter", "broadcast",
                                          "reduce", "alltoall", "gather", "scatter", "sendrecv");
  const std::string roots = twoRoots();
  const auto [status, output] = banyan::test::runShell(
      fmt::format("BANYAN_DEBUG=info BANYAN_TRANSPORT=tcp BANYAN_STORE_ROOTS={} timeout 120 {}/tools/banyan-bench {} "
                  "-np {} -b 8 -e 64K -f 32 -n 2 -w 1",
                  roots, kBuild, collective, kRanks));
  INFO(output);
  REQUIRE(status == 0);
  CHECK_THAT(output, Catch::Contains("Out of bounds values : 0 OK"));
  const auto requests = requestsPerRoot(output);
  REQUIRE(requests.size() == static_cast<std::size_t>(kRanks));
  for (const auto& [rank, counts] : requests) {
    INFO("rank " << rank);
    REQUIRE(counts.size() == static_cast<std::size_t>(kRoots));
    const int own = rank / 2;
    const bool leader = rank % 2 == 0;
    for (int root = 0; root < kRoots; ++root) {
      if (root == own) {
        CHECK(counts[static_cast<std::size_t>(root)] > 0);
      } else if (rank == 0) {
        // Only what rank 0 publishes for every rank: the same few keys on each root.
        CHECK(counts[static_cast<std::size_t>(root)] == counts[1]);
        CHECK(counts[static_cast<std::size_t>(root)] <= 6);
      } else if (leader && root == 0) {
        CHECK(counts[0] == 1);  // its block's host identities, for rank 0
      } else {
        CHECK(counts[static_cast<std::size_t>(root)] == 0);
      }
    }
  }
  // The ranks that are neither rank 0 nor a leader cost their root the same, wherever it is.
  CHECK(requests.at(1)[0] == requests.at(3)[1]);
  CHECK(requests.at(3)[1] == requests.at(5)[2]);
}

TEST_CASE("several store roots: a bad BANYAN_STORE_ROOTS is an error naming the entry", "[multiproc][roots]") {
  const auto run = [](const std::string& roots, const std::string& extra) {
    return banyan::test::runShell(
        fmt::format("{} BANYAN_STORE_ROOTS='{}' timeout 60 {}/tools/banyan-bench allreduce -np 2 -b 8 -e 8 -n 1 -w 0",
                    extra, roots, kBuild));
  };
  {
    const auto [status, output] = run("127.0.0.1:99999", "");
    INFO(output);
    CHECK(status != 0);
    CHECK_THAT(output, Catch::Contains("BANYAN_STORE_ROOTS entry 1 ('127.0.0.1:99999')"));
  }
  {
    const auto [status, output] = run(",127.0.0.1:4000", "");
    INFO(output);
    CHECK(status != 0);
    CHECK_THAT(output, Catch::Contains("entry 1 is empty"));
  }
  {
    // TEST-NET-1: no host of this machine, so no rank serves it, and nothing answers there.
    const auto [status, output] = run("192.0.2.1:4000", "BANYAN_TIMEOUT=3s");
    INFO(output);
    CHECK(status != 0);
    CHECK_THAT(output, Catch::Contains("store root 1 (BANYAN_STORE_ROOTS entry 1, '192.0.2.1:4000')"));
  }
}

TEST_CASE("several store roots: ranks started by hand, root 0 from banyan-store-server, root 1 from its leader",
          "[multiproc][roots]") {
  const auto root0 = banyan::test::unusedPort();
  const auto root1 = banyan::test::unusedPort();
  // Four ranks of the allreduce example through BANYAN_* variables (which serve nothing): the
  // tool serves the job's store; rank 2, the first of root 1's block, serves root 1.
  const auto [status, output] = banyan::test::runShell(
      fmt::format("{0}/tools/banyan-store-server --host 127.0.0.1 --port {1} & server=$!; "
                  "for r in 0 1 2 3; do BANYAN_RANK=$r BANYAN_SIZE=4 BANYAN_STORE_ADDR=127.0.0.1:{1} "
                  "BANYAN_STORE_ROOTS=127.0.0.1:{2} BANYAN_TRANSPORT=tcp BANYAN_DEBUG=info timeout 60 "
                  "{0}/examples/allreduce_example & ranks=\"$ranks $!\"; "
                  "done; failed=0; for pid in $ranks; do wait $pid || failed=1; done; "
                  "kill -TERM $server; wait $server || failed=1; exit $failed",
                  kBuild, root0, root1));
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("listening on 127.0.0.1:" + std::to_string(root0)));
  CHECK(banyan::test::occurrences(output, "sum 6 (expected 6)") == 4);
  const auto requests = requestsPerRoot(output);
  REQUIRE(requests.size() == 4);
  // Over TCP (shared memory's barriers span the roots when one host's ranks do) rank 3 talks to
  // its own root alone, rank 1 to root 0 alone.
  CHECK(requests.at(3)[0] == 0);
  CHECK(requests.at(1)[1] == 0);
}
