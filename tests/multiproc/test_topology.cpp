// The topology probe and the selector in real jobs: BANYAN_TOPO_DUMP_FILE writes what the probe
// saw, BANYAN_TOPO_FILE loads it instead of probing (and is refused when it does not fit), and
// BANYAN_ALGO forces an algorithm that every rank then runs (the results are checked).

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "support/shell.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using banyan::test::runShell;

const std::string kBench = std::string(BANYAN_BUILD_DIR) + "/tools/banyan-bench";

}  // namespace

TEST_CASE("the probed topology is written, loaded back, and refused when it does not fit", "[multiproc][topology]") {
  const std::string path = fmt::format("/tmp/banyan-topo-{}.txt", ::getpid());
  const auto [status, output] = runShell(
      fmt::format("BANYAN_TIMEOUT=30s BANYAN_TOPO_DUMP_FILE={} timeout 120 {} allreduce -np 3 -b 8 -e 64K -f 64 "
                  "-n 2 -w 1 -c 1",
                  path, kBench));
  INFO(output);
  CHECK(status == 0);
  std::ifstream file(path);
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  INFO(text.str());
  CHECK_THAT(text.str(), Catch::Contains("banyan-topology 1\nranks 3\nhost 0 name="));
  CHECK_THAT(text.str(), Catch::Contains("ranks=0,1,2"));
  CHECK_THAT(text.str(), Catch::Contains("memory bandwidth_mbps=") && Catch::Contains("source=measured"));

  const auto [loaded, loadedOutput] = runShell(fmt::format(
      "BANYAN_TIMEOUT=30s BANYAN_TOPO_FILE={} timeout 120 {} allgather -np 3 -b 8 -e 64K -f 64 -n 2 -w 1 -c 1", path,
      kBench));
  INFO(loadedOutput);
  CHECK(loaded == 0);
  CHECK_THAT(loadedOutput, Catch::Contains("# Out of bounds values : 0 OK"));

  const auto [refused, refusedOutput] = runShell(fmt::format(
      "BANYAN_TIMEOUT=30s BANYAN_TOPO_FILE={} timeout 120 {} allgather -np 2 -b 8 -e 8 -n 1 -w 0 -c 1", path, kBench));
  INFO(refusedOutput);
  CHECK(refused != 0);
  CHECK_THAT(refusedOutput,
             Catch::Contains(fmt::format("BANYAN_TOPO_FILE {} describes 3 ranks, but this communicator has 2", path)));
  std::remove(path.c_str());
}

TEST_CASE("BANYAN_ALGO forces the algorithm on every rank, and a bad one is refused", "[multiproc][topology]") {
  const auto [status, output] = runShell(fmt::format(
      "BANYAN_TIMEOUT=30s BANYAN_SHM_COLLECTIVES=0 BANYAN_DEBUG=info BANYAN_ALGO='allreduce:0-:rd' timeout 120 {} "
      "allreduce -np 3 -b 8 -e 1M -f 64 -n 2 -w 1 -c 1",
      kBench));
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
  for (int rank = 0; rank < 3; ++rank) {
    CHECK_THAT(output, Catch::Contains(fmt::format("r{} c0 INFO tuning: communicator 0: allreduce of 8 B per rank uses "
                                                   "recursive-doubling (BANYAN_ALGO band 0- B)",
                                                   rank)));
  }
  // Every allreduce the ranks announced went the forced way (the bench's own allgathers may not).
  std::size_t announced = 0, forced = 0;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(": allreduce of ") == std::string::npos) continue;
    ++announced;
    if (line.find("uses recursive-doubling (BANYAN_ALGO") != std::string::npos) ++forced;
  }
  CHECK(announced >= 3);
  CHECK(forced == announced);

  const auto [bad, badOutput] = runShell(fmt::format(
      "BANYAN_TIMEOUT=30s BANYAN_ALGO='allgather:0-:rd' timeout 120 {} allgather -np 3 -b 8 -e 8 -n 1 -w 0 -c 1",
      kBench));
  INFO(badOutput);
  CHECK(bad != 0);
  CHECK_THAT(badOutput, Catch::Contains("BANYAN_ALGO forces recursive-doubling for allgather: allgather "
                                        "recursive-doubling needs a power-of-two rank count, not 3"));
}

TEST_CASE("banyan-topo probes local ranks and draws the picture; a bad file is refused", "[multiproc][topology]") {
  const std::string png = fmt::format("/tmp/banyan-topo-test-{}.png", ::getpid());
  const std::string saved = fmt::format("/tmp/banyan-topo-test-{}.txt", ::getpid());
  const auto [status, output] =
      runShell(fmt::format("BANYAN_TIMEOUT=30s BANYAN_TRANSPORT=auto timeout 120 "
                           "{}/tools/banyan-topo -np 3 --png {} --save {}",
                           BANYAN_BUILD_DIR, png, saved));
  INFO(output);
  CHECK(status == 0);
#ifdef BANYAN_HAVE_OFI
  // One host, no fabric named: libfabric would serve only ranks on other hosts, and only a
  // real fabric (none here).
  CHECK_THAT(output, Catch::Contains("Fabric: no real fabric found; TCP between hosts"));
  // The provider a forced job would use, with its attributes.
  const auto [shm, shmOutput] =
      runShell(fmt::format("BANYAN_TRANSPORT=ofi BANYAN_OFI_PROVIDER=shm {}/tools/banyan-topo "
                           "--topo {}",
                           BANYAN_BUILD_DIR, saved));
  INFO(shmOutput);
  CHECK(shm == 0);
  CHECK_THAT(shmOutput, Catch::Contains("Fabric: libfabric shm, between every pair of ranks (BANYAN_TRANSPORT=ofi)"));
  CHECK_THAT(shmOutput, Catch::Contains("provider shm (") && Catch::Contains("mr_mode ") &&
                            Catch::Contains("data progress manual"));
#else
  CHECK_THAT(output, Catch::Contains("Fabric: libfabric not built in"));
#endif
  std::remove(saved.c_str());
  CHECK_THAT(output, Catch::Contains("Topology: 3 rank(s) on 1 host(s)"));
  CHECK_THAT(output, Catch::Contains("memory ") && Catch::Contains("(measured)"));
  CHECK_THAT(output, Catch::Contains("  allreduce     64 MiB  ring"));
  std::ifstream file(png, std::ios::binary);
  char magic[4] = {};
  file.read(magic, 4);
  CHECK(std::string(magic + 1, 3) == "PNG");
  std::remove(png.c_str());

  const auto [bad, badOutput] =
      runShell(fmt::format("{}/tools/banyan-topo --topo /nonexistent/t.txt", BANYAN_BUILD_DIR));
  CHECK(bad == 1);
  CHECK_THAT(badOutput, Catch::Contains("cannot read /nonexistent/t.txt"));
}

TEST_CASE("Rabenseifner, double tree and hierarchical allreduce give exact results on real ranks",
          "[multiproc][topology]") {
  for (const char* algorithm : {"rabenseifner", "double-tree", "hierarchical"}) {
    for (int ranks : {3, 4, 5}) {
      for (const char* op : {"sum", "avg"}) {
        const auto [status, output] =
            runShell(fmt::format("BANYAN_TIMEOUT=30s BANYAN_SHM_COLLECTIVES=0 BANYAN_DEBUG=info "
                                 "BANYAN_ALGO='allreduce:0-:{}' timeout 120 {} "
                                 "allreduce -np {} -b 4 -e 4M -f 32 -n 2 -w 1 -c 1 -o {} -d f32",
                                 algorithm, kBench, ranks, op));
        INFO(algorithm << " on " << ranks << " ranks, " << op << "\n" << output);
        CHECK(status == 0);
        CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
        CHECK_THAT(output, Catch::Contains(fmt::format("uses {} (BANYAN_ALGO", algorithm)));
      }
    }
  }
}

TEST_CASE("hierarchical allgather gives exact results on real ranks", "[multiproc][topology]") {
  for (int ranks : {3, 4}) {
    const auto [status, output] =
        runShell(fmt::format("BANYAN_TIMEOUT=30s BANYAN_SHM_COLLECTIVES=0 BANYAN_DEBUG=info "
                             "BANYAN_ALGO='allgather:0-:hierarchical' timeout 120 {} "
                             "allgather -np {} -b 4 -e 4M -f 32 -n 2 -w 1 -c 1 -d f32",
                             kBench, ranks));
    INFO(ranks << " ranks\n" << output);
    CHECK(status == 0);
    CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
    CHECK_THAT(output, Catch::Contains("uses hierarchical (BANYAN_ALGO"));
  }
}
