// Multi-host layouts on one machine: simulated hosts in network namespaces
// (tools/netns-hosts.sh), ranks launched on them as on a cluster (mpirun with an rsh agent, and
// the torchrun variables), every collective's checked sweep run by banyan-bench
// (tests/multihost/run_suite.sh). Inside a host the ranks talk over shared memory, between
// hosts over TCP; the INFO lines the test reads prove which.
//
// These cases need root and network namespaces. tools/run-tests.sh leaves them out, and says
// so, where `netns-hosts.sh check` fails; run directly there, they fail with its reason.

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "support/shell.hpp"

#include <cstdio>
#include <string>

namespace {

using banyan::test::occurrences;
using banyan::test::runShell;

const std::string kSource = BANYAN_SOURCE_DIR;
const std::string kBuild = BANYAN_BUILD_DIR;

void requireNamespaces() {
  const auto [status, output] = runShell(kSource + "/tools/netns-hosts.sh check");
  INFO(output);
  REQUIRE(status == 0);
}

// Runs the suite on `hosts` simulated hosts x `perHost` ranks with `launcher`; returns the output.
std::string runSuite(const std::string& launcher, int hosts, int perHost, int collectives) {
  requireNamespaces();
  const auto [status, output] = runShell(
      fmt::format("timeout 600 {0}/tools/netns-hosts.sh with {1} -- {0}/tests/multihost/run_suite.sh {2} {3} {1} {4}",
                  kSource, hosts, kBuild, launcher, perHost));
  INFO(output);
  CHECK(status == 0);
  // Every collective's sweep ran and every value was right.
  CHECK(occurrences(output, "# Out of bounds values : 0 OK") == static_cast<std::size_t>(collectives));
  // Each rank saw the whole layout and reached the remote hosts over TCP on the namespaces' addresses.
  CHECK(occurrences(output, fmt::format("on {} host(s)", hosts)) ==
        static_cast<std::size_t>(collectives * hosts * perHost));
  CHECK(occurrences(output, "tcp over IPv4 on 10.213.0.") == static_cast<std::size_t>(collectives * hosts * perHost));
  if (perHost > 1) {
    CHECK(occurrences(output, fmt::format("shm to {} rank(s)", perHost - 1)) ==
          static_cast<std::size_t>(collectives * hosts * perHost));
  }
  return output;
}

}  // namespace

TEST_CASE("Every collective on 2 simulated hosts x 2 ranks, launched by mpirun", "[multiproc][netns]") {
  runSuite("mpirun", 2, 2, 8);
}

TEST_CASE("Every collective on 4 simulated hosts x 1 rank, torchrun-style variables", "[multiproc][netns]") {
  runSuite("env", 4, 1, 8);
}

TEST_CASE("Every collective on 2 simulated hosts x 2 ranks, torchrun-style variables", "[multiproc][netns]") {
  runSuite("env", 2, 2, 8);
}

TEST_CASE("Every collective on 4 simulated hosts x 1 rank, launched by mpirun", "[multiproc][netns]") {
  runSuite("mpirun", 4, 1, 8);
}

#ifdef BANYAN_HAVE_OFI
TEST_CASE("Every collective on 2 simulated hosts x 2 ranks over libfabric's tcp;ofi_rxm", "[multiproc][netns][ofi]") {
  // BANYAN_TRANSPORT=ofi: every pair, on one host or two, talks through libfabric, its
  // endpoints bound to the namespaces' addresses (the address banyan would listen on).
  requireNamespaces();
  const int collectives = 8, ranks = 4;
  const auto [status, output] = runShell(
      fmt::format("BANYAN_TRANSPORT=ofi BANYAN_OFI_PROVIDER='tcp;ofi_rxm' timeout 600 {0}/tools/netns-hosts.sh "
                  "with 2 -- {0}/tests/multihost/run_suite.sh {1} env 2 2",
                  kSource, kBuild));
  INFO(output);
  CHECK(status == 0);
  CHECK(occurrences(output, "# Out of bounds values : 0 OK") == static_cast<std::size_t>(collectives));
  CHECK(occurrences(output, "on 2 host(s)") == static_cast<std::size_t>(collectives * ranks));
  CHECK(occurrences(output, "ofi (tcp;ofi_rxm) over IPv4 to 3 rank(s)") ==
        static_cast<std::size_t>(collectives * ranks));
  // Bound to the namespaces' network (logged at each transport set-up: at least once a rank).
  CHECK(occurrences(output, "ofi: provider tcp;ofi_rxm (fabric 10.213.0.") >=
        static_cast<std::size_t>(collectives * ranks));
  CHECK(occurrences(output, "tcp over IPv4 on 10.213.0.") == 0);
}
#endif

// Issue 23: groups made from the world (examples/groups.cpp: tensor- and data-parallel splits
// and a reversed copy) send over the world's connections, shared memory inside a host and TCP
// between hosts, and open no TCP connection of their own. With BANYAN_SHARE_CONNECTIONS=0 they
// do, which shows the count sees them.
TEST_CASE("Groups on 2 simulated hosts x 2 ranks open no TCP connection of their own", "[multiproc][netns]") {
  requireNamespaces();
  for (const bool share : {true, false}) {
    CAPTURE(share);
    const auto [status, output] = runShell(fmt::format(
        "timeout 300 {0}/tools/netns-hosts.sh with 2 -- bash -c 'port=$((20000 + RANDOM % 12000)); pids=(); "
        "for r in 3 2 1 0; do BANYAN_SHARE_CONNECTIONS={2} BANYAN_TIMEOUT=60s RANK=$r WORLD_SIZE=4 "
        "MASTER_ADDR=10.213.0.1 MASTER_PORT=$port \"$NETNS_HOSTS_SCRIPT\" run $((r / 2)) {1}/examples/groups_example "
        "& pids+=($!); done; s=0; for p in \"${{pids[@]}}\"; do wait $p || s=1; done; exit $s'",
        kSource, kBuild, share ? 1 : 0));
    INFO(output);
    CHECK(status == 0);
    CHECK(occurrences(output, "3 groups right") == 4);
    int sameCount = 0;
    for (int rank = 0; rank < 4; ++rank) {
      for (int n = 0; n < 64; ++n) {
        sameCount += static_cast<int>(occurrences(
            output,
            fmt::format("rank {}: 3 groups right; TCP connections before the groups {}, after {}\n", rank, n, n)));
      }
    }
    // Each rank has one peer on its host (shared memory) and two on the other (TCP).
    CHECK(sameCount == (share ? 4 : 0));
  }
}

TEST_CASE("netns-hosts.sh gives each host its own hostname and address, and removes everything", "[multiproc][netns]") {
  requireNamespaces();
  const auto [status, output] = runShell(fmt::format(
      "{0}/tools/netns-hosts.sh with 3 --rate 2gbit -- sh -c 'for h in 0 1 2; do \"$NETNS_HOSTS_SCRIPT\" run $h "
      "hostname; \"$NETNS_HOSTS_SCRIPT\" run $h cat /sys/class/net/eth0/address >/dev/null; done; "
      "echo set=$NETNS_HOSTS_SET; \"$NETNS_HOSTS_SCRIPT\" run 1 tc qdisc show dev eth0; "
      "\"$NETNS_HOSTS_SCRIPT\" run 3 true; echo bad-host=$?'; echo after; ip netns list",
      kSource));
  INFO(output);
  REQUIRE(status == 0);
  const auto at = output.find("set=");
  REQUIRE(at != std::string::npos);
  const std::string set = output.substr(at + 4, output.find('\n', at) - at - 4);
  for (int h = 0; h < 3; ++h) CHECK_THAT(output, Catch::Contains(fmt::format("{}-h{}\n", set, h)));
  CHECK_THAT(output, Catch::Contains("tbf") && Catch::Contains("rate 2Gbit") && Catch::Contains("burst 262"));
  CHECK_THAT(output, Catch::Contains("host '3' is not one of 0..2"));
  CHECK_THAT(output, Catch::Contains("bad-host=1"));
  // After `with` returns, none of the set's namespaces is left.
  CHECK(output.find(set + "-", output.find("after")) == std::string::npos);
}

TEST_CASE("banyan-topo on 2 simulated hosts x 2 ranks sees both hosts and their interfaces", "[multiproc][netns]") {
  requireNamespaces();
  const std::string topo = kBuild + "/tools/banyan-topo";
  const auto [status, output] = runShell(fmt::format(
      "timeout 120 {0}/tools/netns-hosts.sh with 2 -- sh -c 'for r in 3 2 1; do RANK=$r WORLD_SIZE=4 "
      "MASTER_ADDR=10.213.0.1 MASTER_PORT=29400 BANYAN_TIMEOUT=30s \"$NETNS_HOSTS_SCRIPT\" run $((r / 2)) {1} & "
      "done; RANK=0 WORLD_SIZE=4 MASTER_ADDR=10.213.0.1 MASTER_PORT=29400 BANYAN_TIMEOUT=30s "
      "\"$NETNS_HOSTS_SCRIPT\" run 0 {1}; s=$?; wait; exit $s'",
      kSource, topo));
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("Topology: 4 rank(s) on 2 host(s)"));
  CHECK_THAT(output, Catch::Contains("-h0: 2 rank(s) [0,1]") && Catch::Contains("-h1: 2 rank(s) [2,3]"));
  CHECK_THAT(output, Catch::Contains("nic eth0 at 10000 Mbit/s"));  // veth reports 10 Gbit/s
  CHECK_THAT(output, Catch::Contains("  allreduce        8 B  recursive-doubling"));
}

TEST_CASE("Hierarchical allreduce on 2 simulated hosts x 2 and 3 hosts x 2, forced by BANYAN_ALGO",
          "[multiproc][netns]") {
  requireNamespaces();
  for (int hosts : {2, 3}) {
    const auto [status, output] =
        runShell(fmt::format("BANYAN_ALGO='allreduce:0-:hierarchical' timeout 300 {0}/tools/netns-hosts.sh with {1} -- "
                             "{0}/tests/multihost/run_suite.sh {2} env {1} 2 allreduce",
                             kSource, hosts, kBuild));
    INFO(output);
    CHECK(status == 0);
    CHECK(occurrences(output, "# Out of bounds values : 0 OK") == 1);
    CHECK(occurrences(output, "uses hierarchical (BANYAN_ALGO") >= static_cast<std::size_t>(2 * hosts));
    CHECK(occurrences(output, "uses ring") == 0);
  }
}
