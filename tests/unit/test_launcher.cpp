// The local launcher (real forked ranks around a real store) and reading the job from the
// environment.

#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include "bootstrap/environment.hpp"
#include "bootstrap/local_launcher.hpp"

#include "support/ports.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <thread>

using namespace std::chrono_literals;
using banyan::ErrorCode;
using banyan::bootstrap::jobFromEnvironment;
using banyan::bootstrap::launchLocal;
using banyan::bootstrap::launchLocalExec;
using banyan::bootstrap::LaunchOptions;
using banyan::bootstrap::RankExit;
using Clock = std::chrono::steady_clock;

namespace {

const char* const kJobVariables[] = {"BANYAN_RANK", "BANYAN_SIZE", "BANYAN_STORE_ADDR", "RANK",
                                     "WORLD_SIZE",  "MASTER_ADDR", "MASTER_PORT",       "BANYAN_STORE_PREFIX"};

// Clears the job variables for a test and puts back whatever was there before.
class JobEnvironmentGuard {
 public:
  JobEnvironmentGuard() {
    for (const char* name : kJobVariables) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      ::unsetenv(name);
    }
  }
  ~JobEnvironmentGuard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// The InvalidUsage message jobFromEnvironment() throws, or "" when it does not throw.
std::string jobError() {
  try {
    jobFromEnvironment();
  } catch (const banyan::Error& e) {
    CHECK(e.code() == ErrorCode::InvalidUsage);
    return e.detail();
  }
  return "";
}

using banyan::test::unusedPort;

}  // namespace

TEST_CASE("launcher: ranks rendezvous through the store it serves", "[launcher]") {
  constexpr int kRanks = 4;
  const auto exits = launchLocal(kRanks, [](int rank) {
    // Exit codes say which step failed (the test process reads them; no Catch2 in children).
    auto job = jobFromEnvironment();
    if (!job || job->rank != rank || job->size != kRanks || job->source != "BANYAN_*") return 10;
    job->store->add("counter", 1, 10s);
    job->store->set("done/" + std::to_string(rank), {}, 10s);
    std::vector<std::string> keys;
    for (int r = 0; r < kRanks; ++r) keys.push_back("done/" + std::to_string(r));
    job->store->wait(keys, 10s);
    if (job->store->add("counter", 0, 10s) != kRanks) return 11;
    auto* tcp = dynamic_cast<banyan::TcpStore*>(job->store.get());
    if (!tcp || tcp->localAddress() != "127.0.0.1") return 12;
    return 0;
  });
  REQUIRE(exits.size() == kRanks);
  for (const auto& exit : exits) {
    INFO(exit.describe());
    CHECK(exit.ok());
  }
}

TEST_CASE("launcher: reports exit codes, exceptions and signals", "[launcher]") {
  const auto exits = launchLocal(5, [](int rank) -> int {
    // The child inherits Catch2's crash handlers, which would report a failed test before
    // re-raising; this rank's crash is the point of the test.
    std::signal(SIGSEGV, SIG_DFL);
    std::signal(SIGABRT, SIG_DFL);
    switch (rank) {
      case 1:
        return 3;
      case 2:
        throw std::runtime_error("rank 2 gives up");
      case 3:
        std::raise(SIGSEGV);
        return 0;
      case 4:
        std::abort();
      default:
        return 0;
    }
  });
  REQUIRE(exits.size() == 5);
  CHECK(exits[0].ok());
  CHECK(exits[0].describe() == "rank 0 exited with 0");
  CHECK(exits[1].exitCode == 3);
  CHECK_FALSE(exits[1].ok());
  CHECK(exits[1].describe() == "rank 1 exited with 3");
  CHECK(exits[2].exitCode == 1);
  CHECK(exits[3].signal == SIGSEGV);
  CHECK_FALSE(exits[3].ok());
  CHECK_THAT(exits[3].describe(), Catch::StartsWith("rank 3 killed by SIGSEGV"));
  CHECK(exits[4].signal == SIGABRT);
  CHECK_THAT(exits[4].describe(), Catch::Contains("SIGABRT"));
}

TEST_CASE("launcher: kills ranks still running at the deadline", "[launcher]") {
  LaunchOptions options;
  // Long enough for rank 0 to start and return on a loaded machine: at 500 ms it was once
  // still starting when the deadline came (CI rehearsal, load average ~20 on 2 cores).
  options.deadline = 3s;
  const auto start = Clock::now();
  const auto exits = launchLocal(
      2,
      [](int rank) {
        if (rank == 1) {
          for (;;) ::pause();
        }
        return 0;
      },
      options);
  const auto elapsed = Clock::now() - start;
  CHECK(elapsed >= 3s);
  // Not a speed check: only that the launcher did not wait for the paused rank (a generous
  // bound, as the machine may be loaded).
  CHECK(elapsed < 30s);
  REQUIRE(exits.size() == 2);
  INFO(exits[0].describe());
  CHECK(exits[0].ok());
  CHECK(exits[1].killedAtDeadline);
  CHECK_FALSE(exits[1].ok());
  CHECK(exits[1].describe() == "rank 1 killed: still running at deadline");
}

TEST_CASE("launcher: passes the environment to every rank", "[launcher]") {
  LaunchOptions options;
  options.environment = {{"BANYAN_TEST_GREETING", "hello"}, {"BANYAN_TIMEOUT", "7s"}};
  const auto exits = launchLocal(
      3,
      [](int rank) {
        const char* greeting = std::getenv("BANYAN_TEST_GREETING");
        const char* timeout = std::getenv("BANYAN_TIMEOUT");
        const char* rankText = std::getenv("BANYAN_RANK");
        const char* size = std::getenv("BANYAN_SIZE");
        const char* address = std::getenv("BANYAN_STORE_ADDR");
        if (!greeting || std::string(greeting) != "hello") return 20;
        if (!timeout || std::string(timeout) != "7s") return 21;
        if (!rankText || std::stoi(rankText) != rank) return 22;
        if (!size || std::string(size) != "3") return 23;
        if (!address || std::string(address).rfind("127.0.0.1:", 0) != 0) return 24;
        return 0;
      },
      options);
  for (const auto& exit : exits) {
    INFO(exit.describe());
    CHECK(exit.ok());
  }
  CHECK(std::getenv("BANYAN_TEST_GREETING") == nullptr);  // the parent's is untouched
}

TEST_CASE("launcher: exec variant runs a command per rank", "[launcher]") {
  const auto exits = launchLocalExec(3, {"sh", "-c", "exit $((BANYAN_RANK + 40))"});
  REQUIRE(exits.size() == 3);
  for (int rank = 0; rank < 3; ++rank) CHECK(exits[rank].exitCode == 40 + rank);

  const auto missing = launchLocalExec(1, {"/nonexistent/banyan-no-such-program"});
  CHECK(missing[0].exitCode == 127);
  CHECK_THROWS_AS(launchLocalExec(1, {}), banyan::Error);
  CHECK_THROWS_AS(launchLocal(0, [](int) { return 0; }), banyan::Error);
}

TEST_CASE("jobFromEnvironment: banyan variables", "[launcher]") {
  JobEnvironmentGuard env;
  CHECK_FALSE(jobFromEnvironment().has_value());

  env.set("BANYAN_RANK", "1");
  env.set("BANYAN_SIZE", "4");
  env.set("BANYAN_STORE_ADDR", "127.0.0.1:1234");
  auto job = jobFromEnvironment();
  REQUIRE(job.has_value());
  CHECK(job->rank == 1);
  CHECK(job->size == 4);
  CHECK(job->source == "BANYAN_*");
  CHECK(job->store != nullptr);

  env.set("BANYAN_RANK", "one");
  CHECK_THAT(jobError(), Catch::Contains("BANYAN_RANK='one'"));
  env.set("BANYAN_RANK", "1x");
  CHECK_THAT(jobError(), Catch::Contains("BANYAN_RANK"));
  env.set("BANYAN_RANK", "4");
  CHECK_THAT(jobError(), Catch::Contains("BANYAN_RANK=4 is not below BANYAN_SIZE=4"));
  env.set("BANYAN_RANK", "-1");
  CHECK_THAT(jobError(), Catch::Contains("BANYAN_RANK"));
  env.set("BANYAN_RANK", "0");
  env.set("BANYAN_SIZE", "0");
  CHECK_THAT(jobError(), Catch::Contains("BANYAN_SIZE"));
  env.set("BANYAN_SIZE", "2");
  env.set("BANYAN_STORE_ADDR", "localhost");
  CHECK_THAT(jobError(), Catch::Contains("BANYAN_STORE_ADDR='localhost'"));
  env.set("BANYAN_STORE_ADDR", "localhost:70000");
  CHECK_THAT(jobError(), Catch::Contains("BANYAN_STORE_ADDR"));
  env.set("BANYAN_STORE_ADDR", "localhost:0");
  CHECK_THAT(jobError(), Catch::Contains("1..65535"));

  ::unsetenv("BANYAN_SIZE");
  CHECK_THAT(jobError(), Catch::Contains("BANYAN_SIZE is not"));
}

TEST_CASE("jobFromEnvironment: BANYAN_STORE_PREFIX keeps jobs on one store apart", "[launcher]") {
  JobEnvironmentGuard env;
  banyan::TcpStoreServer server("127.0.0.1", 0);
  env.set("BANYAN_RANK", "0");
  env.set("BANYAN_SIZE", "1");
  env.set("BANYAN_STORE_ADDR", fmt::format("127.0.0.1:{}", server.port()));
  env.set("BANYAN_STORE_PREFIX", "jobA");
  auto job = jobFromEnvironment();
  REQUIRE(job.has_value());
  const std::chrono::milliseconds timeout(2000);
  job->store->set("key", {1, 2, 3}, timeout);
  // Seen under the prefix by a plain client, and not under the bare key.
  banyan::TcpStore plain("127.0.0.1", server.port());
  CHECK(plain.get("jobA/key", timeout) == banyan::Store::Bytes{1, 2, 3});
  CHECK_THROWS_AS(plain.get("key", std::chrono::milliseconds(200)), banyan::Error);
}

TEST_CASE("jobFromEnvironment: torchrun variables", "[launcher]") {
  JobEnvironmentGuard env;
  env.set("RANK", "1");
  env.set("WORLD_SIZE", "2");
  env.set("MASTER_ADDR", "127.0.0.1");
  CHECK_THAT(jobError(), Catch::Contains("MASTER_PORT is not"));
  env.set("MASTER_PORT", "99999");
  CHECK_THAT(jobError(), Catch::Contains("MASTER_PORT=99999"));
  env.set("MASTER_PORT", "29500");
  auto job = jobFromEnvironment();
  REQUIRE(job.has_value());
  CHECK(job->rank == 1);
  CHECK(job->size == 2);
  CHECK(job->source == "torchrun");
  env.set("RANK", "2");
  CHECK_THAT(jobError(), Catch::Contains("RANK=2 is not below WORLD_SIZE=2"));

  // Rank 0 serves the store on MASTER_PORT and keeps it alive as long as its store lives.
  const std::uint16_t port = unusedPort();
  env.set("RANK", "0");
  env.set("MASTER_PORT", std::to_string(port));
  job = jobFromEnvironment();
  REQUIRE(job.has_value());
  job->store->set("from-rank-0", {'x'}, 2s);
  {
    // Gone before rank 0's store is replaced below: a server whose clients are still connected
    // waits for them up to BANYAN_STORE_LINGER (60 s) when its store goes.
    banyan::TcpStore peer("127.0.0.1", port);
    CHECK(peer.get("from-rank-0", 2s) == banyan::Store::Bytes{'x'});
  }
  auto* tcp = dynamic_cast<banyan::TcpStore*>(job->store.get());
  REQUIRE(tcp != nullptr);
  CHECK(tcp->localAddress() == "127.0.0.1");

  // The port is now taken: a second rank 0 says where it tried.
  try {
    jobFromEnvironment();
    FAIL("a second server on the same port started");
  } catch (const banyan::Error& e) {
    CHECK_THAT(e.detail(), Catch::Contains(fmt::format("127.0.0.1:{}", port)));
    CHECK_THAT(e.detail(), Catch::Contains("Address already in use"));
  }

  // BANYAN_* wins over torchrun's variables.
  env.set("BANYAN_RANK", "0");
  env.set("BANYAN_SIZE", "1");
  env.set("BANYAN_STORE_ADDR", "127.0.0.1:1");
  job = jobFromEnvironment();
  REQUIRE(job.has_value());
  CHECK(job->source == "BANYAN_*");
}

TEST_CASE("parseHostPort", "[launcher]") {
  using banyan::bootstrap::parseHostPort;
  CHECK(parseHostPort("10.1.2.3:4000", "X") == std::pair<std::string, std::uint16_t>{"10.1.2.3", 4000});
  CHECK(parseHostPort("node-7.cluster:29500", "X").first == "node-7.cluster");
  CHECK(parseHostPort("[::1]:80", "X") == std::pair<std::string, std::uint16_t>{"::1", 80});
  CHECK_THROWS_WITH(parseHostPort("::1:80", "X"), Catch::Contains("brackets"));
  CHECK_THROWS_WITH(parseHostPort(":80", "X"), Catch::Contains("no host"));
  CHECK_THROWS_WITH(parseHostPort("host:", "WHAT"), Catch::Contains("WHAT"));
  CHECK_THROWS_WITH(parseHostPort("[::1]80", "X"), Catch::Contains("[IPv6]:port"));
  CHECK_THROWS_WITH(parseHostPort("host:65536", "X"), Catch::Contains("1..65535"));
}

TEST_CASE("RankExit::describe", "[launcher]") {
  RankExit exit;
  exit.rank = 2;
  exit.exitCode = 1;
  CHECK(exit.describe() == "rank 2 exited with 1");
  exit.signal = SIGKILL;
  CHECK_THAT(exit.describe(), Catch::StartsWith("rank 2 killed by SIGKILL"));
}

TEST_CASE("launcher: bindToCores pins each rank to one CPU", "[launcher]") {
  LaunchOptions options;
  options.bindToCores = true;
  const auto exits = launchLocal(
      2,
      [](int rank) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) != 0) return 10;
        if (CPU_COUNT(&set) != 1) return 11;
        // Rank r takes the r-th allowed CPU (modulo their count), so ranks differ when they can.
        return (rank == 0 || std::thread::hardware_concurrency() == 1 || !CPU_ISSET(0, &set)) ? 0 : 12;
      },
      options);
  for (const auto& exit : exits) {
    INFO(exit.describe());
    CHECK(exit.ok());
  }
}
