// BANYAN_TRACE in a real job: each rank writes a Chrome trace-event file whose operation spans
// match the calls made, whose send/recv/reduce spans sit inside their operations, and which
// tools/banyan-trace-merge validates and joins into one file with every rank.

#include <unistd.h>

#include <array>
#include <banyan/banyan.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "support/files.hpp"
#include "support/multiproc.hpp"
#include "support/shell.hpp"

using namespace banyan;
using banyan::test::makeTempDir;
using banyan::test::over;
using banyan::test::runRanks;
using banyan::test::runShell;

namespace {

const std::string kSource = BANYAN_SOURCE_DIR;

}  // namespace

TEST_CASE("BANYAN_TRACE writes valid per-rank traces that merge into one", "[multiproc][observe]") {
  const std::string dir = makeTempDir("banyan-trace");
  constexpr int kRanks = 3;
  // Messages (not the shared-memory engine), so that sends, receives and reductions show.
  bootstrap::LaunchOptions options = over("shm-messages");
  options.environment["BANYAN_TRACE"] = dir + "/trace-%r.json";
  // The large allreduce on the ring, whatever the cost model prefers on this machine: every
  // rank of the ring reduces, so every rank's trace must show reduce spans (with 3 ranks on 2
  // cores the model now takes Rabenseifner, whose folded rank 2 reduces nothing).
  options.environment["BANYAN_ALGO"] = "allreduce:64K-:ring";
  runRanks(
      kRanks,
      [](int) {
        auto comm = Communicator::fromEnvironment();
        std::vector<float> small(16, 1.0f), large(256 * 1024, 1.0f);
        std::vector<float> gathered(16 * kRanks);
        comm.allreduce(small.data(), small.size(), DataType::f32, ReduceOp::sum);  // recursive doubling
        comm.allreduce(large.data(), large.size(), DataType::f32, ReduceOp::sum);  // ring, sliced
        comm.allgather(small.data(), gathered.data(), small.size(), DataType::f32);
        comm.broadcast(small.data(), small.size(), DataType::f32, 1);
        comm.close();  // ends the files
        return 0;
      },
      options);
  std::string files;
  for (int r = 0; r < kRanks; ++r) {
    const std::string file = dir + "/trace-" + std::to_string(r) + ".json";
    files += " " + file;
    const auto [status, output] = runShell(kSource + "/tests/support/check_trace.py " + file + " " + std::to_string(r) +
                                           " allreduce#1 allreduce#2 allgather#3 broadcast#4");
    INFO(output);
    CHECK(status == 0);
  }
  const auto [status, output] = runShell(kSource + "/tools/banyan-trace-merge --check -o " + dir + "/job.json" + files);
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("from 3 rank(s)"));
  runShell("rm -rf " + dir);
}

TEST_CASE("banyan-trace-merge --check refuses overlapping spans and accepts a file a crash cut short", "[observe]") {
  const std::string dir = makeTempDir("banyan-trace");
  const auto write = [&](const std::string& name, const std::string& text) {
    std::FILE* file = std::fopen((dir + "/" + name).c_str(), "w");
    REQUIRE(file != nullptr);
    std::fputs(text.c_str(), file);
    std::fclose(file);
    return dir + "/" + name;
  };
  const std::string bad = write("bad.json",
                                "[{\"name\": \"a\", \"ph\": \"X\", \"ts\": 0, \"dur\": 10, \"pid\": 0, \"tid\": 1},\n"
                                "{\"name\": \"b\", \"ph\": \"X\", \"ts\": 5, \"dur\": 10, \"pid\": 0, \"tid\": 1}]\n");
  const std::string cut = write("cut.json",
                                "[\n{\"name\": \"a\", \"ph\": \"X\", \"ts\": 0, \"dur\": 10, \"pid\": 0, \"tid\": 1},\n"
                                "{\"name\": \"b\", \"ph\": \"X\", \"ts\": 2, \"dur\": 3, \"pid\": 0, \"tid\": 1}");
  const auto [badStatus, badOutput] = runShell(kSource + "/tools/banyan-trace-merge --check " + bad);
  INFO(badOutput);
  CHECK(badStatus == 1);
  CHECK_THAT(badOutput, Catch::Contains("overlaps"));
  const auto [cutStatus, cutOutput] = runShell(kSource + "/tools/banyan-trace-merge --check " + cut);
  INFO(cutOutput);
  CHECK(cutStatus == 0);
  runShell("rm -rf " + dir);
}
