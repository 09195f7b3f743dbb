// Options::algo and Options::topoFile in real jobs: set in code they replace BANYAN_ALGO and
// BANYAN_TOPO_FILE (docs/configuration.md says why code wins), the forced algorithm runs on
// every rank with exact results, and a topology file that cannot be read is refused by name.

#include <unistd.h>

#include <banyan/banyan.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/multiproc.hpp"

using namespace banyan;
using banyan::test::makeTempDir;
using banyan::test::over;
using banyan::test::runRanks;

TEST_CASE("Options::algo replaces BANYAN_ALGO and every rank runs it", "[multiproc][topology]") {
  const std::string dir = makeTempDir("banyan-algo-opt");
  const std::string path = dir + "/rank0.log";
  bootstrap::LaunchOptions options = over("tcp");
  options.environment["BANYAN_ALGO"] = "allreduce:0-:ring";  // what the code must override
  options.environment["BANYAN_DEBUG"] = "info";
  options.environment["BANYAN_DEBUG_SUBSYS"] = "tuning,coll";
  constexpr int kRanks = 3;
  runRanks(
      kRanks,
      [&](int rank) {
        RANK_EXPECT(rank, std::freopen(rank == 0 ? path.c_str() : "/dev/null", "w", stderr) != nullptr);
        Options code;
        code.algo = "allreduce:0-:double-tree";
        auto comm = Communicator::fromEnvironment(code);
        std::vector<float> data(1000);
        for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(comm.rank() * 1000 + i);
        comm.allreduce(data.data(), data.size(), DataType::f32, ReduceOp::sum);
        for (std::size_t i = 0; i < data.size(); ++i) {
          // sum over r of (r * 1000 + i) = 1000 * (0 + 1 + 2) + 3 i
          RANK_EXPECT(rank, data[i] == static_cast<float>(3000 + kRanks * i));
        }
        std::fflush(stderr);
        return 0;
      },
      options);
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  std::remove(path.c_str());
  rmdir(dir.c_str());
  INFO(text.str());
  CHECK(text.str().find("uses double-tree (Options::algo band 0- B)") != std::string::npos);
  CHECK(text.str().find("uses ring") == std::string::npos);
}

TEST_CASE("Options::topoFile replaces BANYAN_TOPO_FILE and an unreadable one is refused by name",
          "[multiproc][topology]") {
  bootstrap::LaunchOptions options = over("tcp");
  options.environment["BANYAN_TOPO_FILE"] = "/nonexistent/from-env.txt";
  options.environment["BANYAN_TIMEOUT"] = "10s";
  options.environment["BANYAN_DEBUG"] = "none";
  runRanks(
      2,
      [](int rank) {
        Options code;
        code.topoFile = "/nonexistent/from-code.txt";
        try {
          Communicator::fromEnvironment(code);
        } catch (const Error& e) {
          const std::string what = e.what();
          RANK_EXPECT(rank, what.find("cannot read /nonexistent/from-code.txt") != std::string::npos);
          return 0;
        }
        std::fprintf(stderr, "rank %d: the unreadable topology file was accepted\n", rank);
        return 1;
      },
      options);
}
