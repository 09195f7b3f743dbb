// IPv6 end to end: real ranks whose store, TCP connections, control channel and (where
// libfabric takes IPv6) ofi addresses are IPv6, on ::1 and between simulated IPv6-only hosts;
// ranks of both families in one job; and the refusal of link-local addresses.
//
// Each case reads the INFO set-up line of every rank ("tcp over IPv6 on [::1]:41234 to ..."):
// a job that quietly fell back to IPv4 fails it.
//
// The simulated-host cases ([netns-ipv6], also [netns]) need root, network namespaces and IPv6
// in them: tools/run-tests.sh leaves them out, and says why, where `netns-hosts.sh check
// --family 6` fails; run directly there, they fail with its reason. The others need ::1.

#include <fmt/format.h>
#include <banyan/banyan.hpp>
#include <catch2/catch.hpp>

#include "support/multiproc.hpp"
#include "support/ports.hpp"
#include "support/shell.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using banyan::test::occurrences;
using banyan::test::runShell;

const std::string kSource = BANYAN_SOURCE_DIR;
const std::string kBuild = BANYAN_BUILD_DIR;

// Where rank `rank` of a job of test process `parent` writes its stderr (the INFO lines).
std::string logPath(pid_t parent, int rank) { return fmt::format("/tmp/banyan-ipv6-test-{}-{}.log", parent, rank); }

std::string readAndRemove(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::remove(path.c_str());
  return text.str();
}

// Heartbeat period of these jobs: with 5 misses a neighbour never heard from is lost after
// 3 x 5 x 50 ms = 750 ms (resilience/control_plane.cpp), well inside kPause.
constexpr const char* kHeartbeatMs = "50";
constexpr auto kPause = std::chrono::milliseconds(1200);

// One rank: an allreduce, a pause (kPause, when `pause`) longer than the heartbeat window (a
// control channel that cannot reach a peer shows as a lost neighbour then), and a second
// allreduce, both checked.
int allreduceTwice(int rank, bool pause) {
  auto comm = banyan::Communicator::fromEnvironment();
  for (int round = 0; round < 2; ++round) {
    std::vector<float> values(4096, static_cast<float>(rank + round));
    comm.allreduce(values.data(), values.size(), banyan::DataType::f32, banyan::ReduceOp::sum);
    const int n = comm.size();
    const float expected = static_cast<float>(n * (n - 1) / 2 + n * round);
    RANK_EXPECT(rank, values.front() == expected && values.back() == expected);
    if (round == 0 && pause) std::this_thread::sleep_for(kPause);
  }
  return 0;
}

struct LoggedJob {
  std::vector<banyan::bootstrap::RankExit> exits;
  std::vector<std::string> logs;  // by rank
};

// Runs `n` ranks under the launcher with `options`; rank r first sets the variable perRank[r]
// (in its own process, before it joins).
LoggedJob launchLogged(int n, banyan::bootstrap::LaunchOptions options,
                       const std::vector<std::pair<std::string, std::string>>& perRank, bool pause) {
  options.environment["BANYAN_DEBUG"] = "info";
  options.environment["BANYAN_DEBUG_SUBSYS"] = "init";
  options.environment["BANYAN_HEARTBEAT_MS"] = kHeartbeatMs;
  options.environment["BANYAN_TIMEOUT"] = "30s";
  options.deadline = std::chrono::seconds(60);
  const pid_t parent = ::getpid();
  LoggedJob job;
  job.exits = banyan::bootstrap::launchLocal(
      n,
      [&](int rank) {
        if (std::freopen(logPath(parent, rank).c_str(), "w", stderr) == nullptr) return 3;
        if (static_cast<std::size_t>(rank) < perRank.size() && !perRank[rank].first.empty()) {
          ::setenv(perRank[rank].first.c_str(), perRank[rank].second.c_str(), 1);
        }
        int result = 2;
        try {
          result = allreduceTwice(rank, pause);
        } catch (const banyan::Error& e) {
          std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
        }
        // The launcher's children end with _exit(): a file stream is not flushed by it.
        std::fflush(stderr);
        return result;
      },
      options);
  for (int rank = 0; rank < n; ++rank) job.logs.push_back(readAndRemove(logPath(parent, rank)));
  return job;
}

// launchLogged, and every rank must succeed. Returns the logs.
std::vector<std::string> runLogged(int n, const banyan::bootstrap::LaunchOptions& options,
                                   const std::vector<std::pair<std::string, std::string>>& perRank = {},
                                   bool pause = false) {
  LoggedJob job = launchLogged(n, options, perRank, pause);
  std::string failures;
  for (std::size_t rank = 0; rank < job.exits.size(); ++rank) {
    if (!job.exits[rank].ok()) failures += job.exits[rank].describe() + ":\n" + job.logs[rank];
  }
  INFO(failures);
  CHECK(failures.empty());
  return job.logs;
}

}  // namespace

TEST_CASE("The launcher's store on [::1]: ranks listen, publish and connect over IPv6", "[multiproc][ipv6]") {
  banyan::bootstrap::LaunchOptions options = banyan::test::over("tcp");
  options.ipv6 = true;
  const auto logs = runLogged(3, options);
  for (const auto& log : logs) {
    INFO(log);
    CHECK_THAT(log, Catch::Contains("tcp over IPv6 on [::1]:") && Catch::Contains("to 2 rank(s)"));
  }
}

#ifdef BANYAN_HAVE_OFI
TEST_CASE("The launcher's store on [::1]: libfabric's tcp;ofi_rxm over IPv6", "[multiproc][ipv6][ofi]") {
  banyan::bootstrap::LaunchOptions options = banyan::test::over("ofi-tcp");
  options.ipv6 = true;
  const auto logs = runLogged(3, options);
  for (const auto& log : logs) {
    INFO(log);
    CHECK_THAT(log, Catch::Contains("ofi (tcp;ofi_rxm) over IPv6 to 2 rank(s)"));
  }
}

// libfabric's tcp provider cannot insert an address of the other family into an endpoint's
// address vector ("adding rank 0's address ...: Invalid argument" when banyan let it try), so a
// pair of mixed families is refused up front when ofi is forced, naming both ranks and families.
TEST_CASE("Forced ofi between ranks of both families fails with a clear error", "[multiproc][ipv6][ofi]") {
  const LoggedJob job = launchLogged(2, banyan::test::over("ofi-tcp"), {{"BANYAN_SOCKET_ADDR", "::1"}}, false);
  for (std::size_t rank = 0; rank < job.exits.size(); ++rank) {
    INFO(job.logs[rank]);
    CHECK(job.exits[rank].exitCode == 2);
    CHECK_THAT(job.logs[rank],
               Catch::Contains("does not connect across families") &&
                   Catch::Contains(rank == 0 ? "rank 0's libfabric endpoint is IPv6 but rank 1's is IPv4"
                                             : "rank 1's libfabric endpoint is IPv4 but rank 0's is IPv6"));
  }
}
#endif

// The store on IPv4, rank 0 told to listen on ::1 (BANYAN_SOCKET_ADDR), the others on the
// store's family: every pair must still connect, and the control channel must still carry the
// heartbeats across families (the pause in allreduceTwice would otherwise lose a neighbour).
TEST_CASE("A job whose ranks listen on both families: every pair connects", "[multiproc][ipv6]") {
  const auto logs = runLogged(3, banyan::test::over("tcp"), {{"BANYAN_SOCKET_ADDR", "[::1]"}}, true);
  INFO(logs[0] + logs[1] + logs[2]);
  CHECK_THAT(logs[0], Catch::Contains("tcp over IPv6 on [::1]:"));
  CHECK_THAT(logs[1], Catch::Contains("tcp over IPv4 on 127.0.0.1:"));
  CHECK_THAT(logs[2], Catch::Contains("tcp over IPv4 on 127.0.0.1:"));
  for (const auto& log : logs) CHECK_THAT(log, !Catch::Contains("stopped responding"));
}

TEST_CASE("A link-local listen address is refused with a clear error", "[multiproc][ipv6]") {
  for (const char* address : {"fe80::1", "fe80::1%lo"}) {
    const auto [status, output] =
        runShell(fmt::format("BANYAN_SOCKET_ADDR='{}' RANK=0 WORLD_SIZE=1 MASTER_ADDR=::1 MASTER_PORT={} timeout 30 "
                             "{}/examples/allreduce_example",
                             address, banyan::test::unusedPort(), kBuild));
    INFO(output);
    CHECK(status == 2);
    CHECK_THAT(output,
               Catch::Contains("BANYAN_SOCKET_ADDR") && Catch::Contains("link-local") && Catch::Contains(address));
  }
}

TEST_CASE("torchrun-style variables with MASTER_ADDR=::1: store in rank 0, ranks over IPv6", "[multiproc][ipv6]") {
  const int port = banyan::test::unusedPort();
  const std::string env = fmt::format(
      "BANYAN_TRANSPORT=tcp BANYAN_DEBUG=info BANYAN_DEBUG_SUBSYS=init BANYAN_TIMEOUT=30s WORLD_SIZE=2 "
      "MASTER_ADDR=::1 MASTER_PORT={}",
      port);
  const std::string example = kBuild + "/examples/allreduce_example";
  const auto [status, output] = runShell(
      fmt::format("({0} RANK=1 timeout 60 {1} & {0} RANK=0 timeout 60 {1}; r0=$?; wait $!; r1=$?; exit $((r0 | r1)))",
                  env, example));
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("rank 0 of 2: sum 1 (expected 1)"));
  CHECK_THAT(output, Catch::Contains("rank 1 of 2: sum 1 (expected 1)"));
  CHECK(occurrences(output, "tcp over IPv6 on [::1]:") == 2);
}

// Shrinking over IPv6: rank 0, which served the store, is killed; the survivors agree on the
// failure over the control channel and meet in a new store one of them serves at its own
// published address ("[::1]:port" travels in the agreement).
TEST_CASE("MASTER_ADDR=::1: the elastic example goes on when rank 0 is killed", "[multiproc][ipv6][resilience]") {
  const int port = banyan::test::unusedPort();
  const std::string script = fmt::format(
      "export WORLD_SIZE=3 MASTER_ADDR=::1 MASTER_PORT={0} BANYAN_TRANSPORT=tcp BANYAN_TIMEOUT=30s "
      "BANYAN_HEARTBEAT_MS=200 BANYAN_DEBUG=none; out=$(mktemp); pids=(); for r in 0 1 2; do RANK=$r {1} 6 4096 "
      ">>$out 2>&1 & pids+=($!); done; for i in $(seq 600); do [ $(grep -c running $out) = 3 ] && break; sleep 0.1; "
      "done; sleep 0.5; kill -9 ${{pids[0]}}; s=0; for r in 1 2; do wait ${{pids[$r]}} || s=1; done; wait; cat $out; "
      "rm -f $out; exit $s",
      port, kBuild + "/examples/elastic_allreduce");
  const auto [status, output] = runShell("timeout 90 bash -c '" + script + "'");
  INFO(output);
  CHECK(status == 0);
  CHECK(occurrences(output, "continued on 2 ranks") == 2);
  CHECK_THAT(output, Catch::Contains("rank 0 was lost"));
  CHECK_THAT(output, !Catch::Contains("expected"));  // no wrong element anywhere
}

// "localhost" resolving to ::1 and 127.0.0.1, as on many distributions (this machine's
// /etc/hosts has only 127.0.0.1, so the case gives itself such a file in a private mount
// namespace; nothing outside the case sees it). Rank 0 serves a name of both families on IPv4,
// every rank falls through ::1 (refused) to 127.0.0.1, and so all listen on IPv4 alike.
TEST_CASE("MASTER_ADDR=localhost of both families: every rank on one family", "[multiproc][ipv6]") {
  const int port = banyan::test::unusedPort();
  const std::string hosts = fmt::format("/tmp/banyan-ipv6-hosts-{}", ::getpid());
  const std::string env = fmt::format(
      "BANYAN_TRANSPORT=tcp BANYAN_DEBUG=info BANYAN_DEBUG_SUBSYS=init BANYAN_TIMEOUT=30s WORLD_SIZE=2 "
      "MASTER_ADDR=localhost MASTER_PORT={}",
      port);
  const auto [status, output] = runShell(fmt::format(
      "printf '::1 localhost\\n127.0.0.1 localhost\\n' > {0} && timeout 60 unshare --mount sh -c '"
      "mount --bind {0} /etc/hosts && getent ahosts localhost | sed \"s/^/resolves: /\" && "
      "({1} RANK=1 {2} & {1} RANK=0 {2}; r0=$?; wait $!; r1=$?; exit $((r0 | r1)))'; s=$?; rm -f {0}; exit $s",
      hosts, env, kBuild + "/examples/allreduce_example"));
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("resolves: ::1") && Catch::Contains("resolves: 127.0.0.1"));
  CHECK_THAT(output, Catch::Contains("rank 0 of 2: sum 1 (expected 1)"));
  CHECK_THAT(output, Catch::Contains("rank 1 of 2: sum 1 (expected 1)"));
  CHECK(occurrences(output, "tcp over IPv4 on 127.0.0.1:") == 2);
}

// Two simulated hosts with IPv6 addresses only (tools/netns-hosts.sh --family 6): the store in
// rank 0 on host 0, found through MASTER_ADDR=fd00:ba::1. `transport` is the variables that
// choose the transport between the hosts; returns everything the job printed.
namespace {
std::string runOnIpv6Hosts(const std::string& transport) {
  {
    const auto [status, output] = runShell(kSource + "/tools/netns-hosts.sh check --family 6");
    INFO(output);
    REQUIRE(status == 0);
  }
  const std::string env = transport +
                          " BANYAN_DEBUG=info BANYAN_DEBUG_SUBSYS=init BANYAN_TIMEOUT=30s WORLD_SIZE=2 "
                          "MASTER_ADDR=fd00:ba::1 MASTER_PORT=29400";
  const auto [status, output] = runShell(
      fmt::format("timeout 120 {0}/tools/netns-hosts.sh with 2 --family 6 -- sh -c '"
                  "\"$NETNS_HOSTS_SCRIPT\" run 1 ip -4 addr show dev eth0 | grep -c inet | sed s/^/ipv4-on-eth0=/; "
                  "{1} RANK=1 \"$NETNS_HOSTS_SCRIPT\" run 1 {2} & {1} RANK=0 \"$NETNS_HOSTS_SCRIPT\" run 0 {2}; r0=$?; "
                  "wait $!; r1=$?; exit $((r0 | r1))'",
                  kSource, env, kBuild + "/examples/allreduce_example"));
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("ipv4-on-eth0=0"));
  CHECK_THAT(output, Catch::Contains("rank 0 of 2: sum 1 (expected 1)"));
  CHECK_THAT(output, Catch::Contains("rank 1 of 2: sum 1 (expected 1)"));
  return output;
}
}  // namespace

TEST_CASE("Two IPv6-only simulated hosts (torchrun-style variables) over tcp", "[multiproc][netns][netns-ipv6][ipv6]") {
  const std::string output = runOnIpv6Hosts("");
  INFO(output);
  CHECK_THAT(output,
             Catch::Contains("tcp over IPv6 on [fd00:ba::1]:") && Catch::Contains("tcp over IPv6 on [fd00:ba::2]:"));
}

#ifdef BANYAN_HAVE_OFI
TEST_CASE("Two IPv6-only simulated hosts (torchrun-style variables) over tcp;ofi_rxm",
          "[multiproc][netns][netns-ipv6][ipv6][ofi]") {
  const std::string output = runOnIpv6Hosts("BANYAN_TRANSPORT=ofi BANYAN_OFI_PROVIDER=\"tcp;ofi_rxm\"");
  INFO(output);
  CHECK(occurrences(output, "on 2 host(s), ofi (tcp;ofi_rxm) over IPv6 to 1 rank(s)") == 2);
}
#endif
