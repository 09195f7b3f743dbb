// banyan changes no process-wide state it does not own (docs/architecture.md, "Process-wide
// state"): a program that links it keeps its signal dispositions and CPU affinity across
// communicator creation over every transport, and a crash stays a crash, the process dying by
// its signal at once, with no backtrace file (.btr) in its working directory. libfabric's PSM
// libraries, whose load-time constructors took SIGSEGV over, are reached only through the ofi
// module (docs/ofi.md, "Loading the module"), never linked by libbanyan or banyan_torch.

#include <fmt/format.h>
#include <banyan/banyan.hpp>
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/multiproc.hpp"
#include "support/ports.hpp"
#include "support/shell.hpp"

namespace {

using banyan::bootstrap::launchLocalExec;
using banyan::bootstrap::LaunchOptions;
using banyan::bootstrap::RankExit;

const std::string kBuild = BANYAN_BUILD_DIR;
const std::string kSource = BANYAN_SOURCE_DIR;

std::int64_t monotonicNs() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

// A fresh directory for the ranks to crash in, removed at the end of the scope.
struct CrashDirectory {
  std::string path;
  CrashDirectory() {
    char pattern[] = "/tmp/banyan-crash-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~CrashDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path)) names.push_back(entry.path().filename());
    return names;
  }
};

// libfabric's shm provider names its regions "<pid>:..." in /dev/shm and removes them from its
// own signal handlers, which banyan sets back (docs/ofi.md, "Loading the module"): a crashed
// rank's stay, and the test removes them.
void removeShmRegions(long pid) {
  const std::string prefix = std::to_string(pid) + ":";
  std::error_code none;
  for (std::filesystem::directory_iterator it("/dev/shm", none), end; !none && it != end; it.increment(none)) {
    if (it->path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(it->path(), none);
  }
}

// Runs `argv` as 2 ranks in `dir` and checks that each died by `signal` within a second of the
// moment it wrote into crash.<rank>, and that nothing else (a .btr file) appeared in `dir`.
void expectDeathBy(int signal, const std::vector<std::string>& argv, const CrashDirectory& dir, LaunchOptions options) {
  options.deadline = std::chrono::seconds(120);
  const std::vector<RankExit> exits = launchLocalExec(2, argv, options);
  const std::int64_t returned = monotonicNs();
  for (const RankExit& exit : exits) {
    INFO(exit.describe());
    CHECK(exit.signal == signal);
  }
  std::vector<std::string> files = dir.files();
  std::sort(files.begin(), files.end());
  INFO(fmt::format("files left in {}: {}", dir.path, fmt::join(files, " ")));
  CHECK(files == std::vector<std::string>{"crash.0", "crash.1"});
  for (int rank = 0; rank < 2; ++rank) {
    std::ifstream crash(fmt::format("{}/crash.{}", dir.path, rank));
    std::int64_t crashed = 0;
    long pid = 0;
    REQUIRE(crash >> crashed >> pid);
    removeShmRegions(pid);
    // The launcher polls its children every 10 ms at most: a second is a wide margin, and a
    // handler that hangs (the PSM handler's exit() did) meets the deadline instead.
    INFO("rank " << rank << " died " << (returned - crashed) / 1000000 << " ms after it crashed (at most)");
    CHECK(returned - crashed < 1000000000);
  }
}

}  // namespace

TEST_CASE("a program that links banyan keeps its signal handlers and affinity, and dies by SIGSEGV when it crashes",
          "[multiproc][process-state]") {
  const std::string transport =
      GENERATE(filter(banyan::test::transportSelected, values<std::string>({"tcp", "shm"
#ifdef BANYAN_HAVE_OFI
                                                                            ,
                                                                            "ofi-tcp", "ofi-shm"
#endif
                                                       })));
  INFO(transport);
  const CrashDirectory dir;
  LaunchOptions options = banyan::test::over(transport);
  options.environment["BANYAN_TIMEOUT"] = "60s";
  // crash_after_create exits with 3 (and says why) when a disposition or the affinity changed.
  expectDeathBy(SIGSEGV, {kBuild + "/tests/crash_after_create", dir.path}, dir, options);
}

TEST_CASE("a Python process with banyan_torch's group dies by the signal that ends it",
          "[multiproc][process-state][torch]") {
  const std::string package = kBuild + "/python";
  if (!std::filesystem::exists(package + "/banyan_torch/__init__.py")) {
    WARN("banyan_torch is not built (no torch for /usr/bin/python3): nothing to check");
    return;
  }
  const std::string transport = GENERATE(filter(banyan::test::transportSelected, values<std::string>({"tcp"
#ifdef BANYAN_HAVE_OFI
                                                                                                      ,
                                                                                                      "ofi-tcp"
#endif
                                                                                 })));
  const auto [signal, mode] = GENERATE(table<int, std::string>({{SIGSEGV, "segv"}, {SIGABRT, "abort"}}));
  INFO(transport << ", " << mode);
  const CrashDirectory dir;
  LaunchOptions options = banyan::test::over(transport);
  options.environment["PYTHONPATH"] = package;
  options.environment["MASTER_ADDR"] = "127.0.0.1";
  options.environment["MASTER_PORT"] = std::to_string(banyan::test::unusedPort());
  options.environment["OMP_NUM_THREADS"] = "1";
  expectDeathBy(signal, {"/usr/bin/python3", kSource + "/tests/helpers/crash_torch.py", mode, dir.path}, dir, options);
}

TEST_CASE("libbanyan and banyan_torch's extension link no libfabric, PSM or infinipath library",
          "[multiproc][process-state]") {
  std::vector<std::string> libraries = {kBuild + "/libbanyan.so"};
  // The extension, where torch is there to build it.
  std::error_code none;
  for (std::filesystem::directory_iterator it(kBuild + "/python/banyan_torch", none), end; !none && it != end;
       it.increment(none)) {
    if (it->path().extension() == ".so") libraries.push_back(it->path());
  }
  for (const std::string& library : libraries) {
    // ldd lists the whole closure, direct and indirect.
    const auto [status, output] = banyan::test::runShell(fmt::format("ldd '{}'", library));
    INFO(library << ":\n" << output);
    REQUIRE(status == 0);
    CHECK_THAT(output, !Catch::Contains("libfabric", Catch::CaseSensitive::No) &&
                           !Catch::Contains("psm", Catch::CaseSensitive::No) &&
                           !Catch::Contains("infinipath", Catch::CaseSensitive::No));
  }
}

#ifdef BANYAN_HAVE_OFI
TEST_CASE("ofi asked for without its module is a clear error naming the path tried",
          "[multiproc][process-state][ofi]") {
  banyan::bootstrap::LaunchOptions options;
  options.environment["BANYAN_TRANSPORT"] = "ofi";
  options.environment["BANYAN_OFI_PROVIDER"] = "tcp;ofi_rxm";
  options.environment["BANYAN_OFI_MODULE"] = "/nonexistent/libbanyan-ofi.so";
  options.environment["BANYAN_DEBUG"] = "none";
  banyan::test::runRanks(
      2,
      [](int rank) {
        try {
          auto comm = banyan::Communicator::fromEnvironment();
        } catch (const banyan::Error& error) {
          const std::string text = error.what();
          RANK_EXPECT(rank, error.code() == banyan::ErrorCode::NotSupported);
          RANK_EXPECT(rank, text.find("BANYAN_TRANSPORT=ofi") != std::string::npos);
          RANK_EXPECT(rank, text.find("/nonexistent/libbanyan-ofi.so") != std::string::npos);
          RANK_EXPECT(rank, text.find("BANYAN_OFI_MODULE") != std::string::npos);
          return 0;
        }
        std::fprintf(stderr, "rank %d: ofi without its module made a communicator\n", rank);
        return 1;
      },
      options);
}
#endif

#ifdef BANYAN_HAVE_OFI
// Over libfabric's shm provider both guarded moments change handlers here (the load for the PSM
// constructors, the first use for the provider's own): each rank still says so in one line,
// not two that read as two problems.
TEST_CASE("ofi's load and first use put back process-wide state with one WARN line per rank",
          "[multiproc][process-state][ofi]") {
  const std::string env = fmt::format(
      "BANYAN_TIMEOUT=30s WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT={} BANYAN_TRANSPORT=ofi "
      "BANYAN_OFI_PROVIDER=shm",
      banyan::test::unusedPort());
  const std::string example = kBuild + "/examples/allreduce_example";
  const auto [status, output] = banyan::test::runShell(
      fmt::format("({0} RANK=1 timeout 60 {1} & {0} RANK=0 timeout 60 {1}; r0=$?; wait $!; r1=$?; exit $((r0 | r1)))",
                  env, example));
  INFO(output);
  REQUIRE(status == 0);
  REQUIRE_THAT(output, Catch::Contains("rank 1 of 2: sum 1 (expected 1)"));
  // At most one line per rank (none where nothing changed), each naming what it restored.
  for (const char* rank : {" r0 ", " r1 "}) {
    std::size_t lines = 0;
    std::size_t from = 0;
    for (std::size_t end; (end = output.find('\n', from)) != std::string::npos; from = end + 1) {
      const std::string line = output.substr(from, end - from);
      if (line.find(rank) != std::string::npos && line.find("changed process-wide state") != std::string::npos) {
        ++lines;
        CHECK_THAT(line, Catch::Contains("restored: handler of"));
      }
    }
    CHECK(lines <= 1);
  }
}
#endif
