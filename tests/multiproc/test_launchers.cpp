// The ways a job starts, end to end with the shipped programs: banyan-bench's own launcher
// (-np), mpirun (banyan-mpi bootstrap), and torchrun-style variables (the example program).

#include "support/ports.hpp"
#include "support/shell.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using banyan::test::runShell;

const std::string kBuild = BANYAN_BUILD_DIR;

}  // namespace

TEST_CASE("banyan-bench -np launches ranks and checks every result", "[multiproc][launchers]") {
  const auto [status, output] = runShell(
      "timeout 120 " + kBuild + "/tools/banyan-bench allreduce -np 3 -b 8 -e 1M -f 64 -n 3 -w 1 -c 1 -d bf16 -o avg");
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
}

// sendrecv from below to above the eager limit (64K by default, so 8 B..1M crosses it), out of
// place and in place (the replace), blocking and with every timed call outstanding (-z 0).
TEST_CASE("banyan-bench sendrecv checks both placements on a ring of ranks", "[multiproc][launchers]") {
  for (const char* blocking : {"1", "0"}) {
    const auto [status, output] =
        runShell("timeout 120 " + kBuild +
                 "/tools/banyan-bench sendrecv -np 3 -b 8 -e 1M -f 32 -n 3 -w 1 -c 1 -d i32 -z " + blocking);
    INFO(output);
    CHECK(status == 0);
    CHECK_THAT(output, Catch::Contains("# Collective test starting: banyan-bench sendrecv"));
    CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
    // Every size checked in both placements: no N/A in the #wrong columns.
    CHECK_THAT(output, !Catch::Contains("N/A"));
  }
}

TEST_CASE("torchrun-style variables start a job (the example program)", "[multiproc][launchers]") {
  const int port = banyan::test::unusedPort();
  const std::string env = fmt::format("BANYAN_TIMEOUT=30s WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT={}", port);
  const std::string example = kBuild + "/examples/allreduce_example";
  const auto [status, output] = runShell(fmt::format(
      "({0} RANK=1 timeout 60 {1} & {0} RANK=0 timeout 60 {1}; wait $!; r0=$?; wait; exit $r0)", env, example));
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("rank 0 of 2: sum 1 (expected 1)"));
  CHECK_THAT(output, Catch::Contains("rank 1 of 2: sum 1 (expected 1)"));
}

#ifdef BANYAN_HAVE_MPI
TEST_CASE("banyan-bench runs under mpirun (banyan-mpi bootstrap)", "[multiproc][launchers]") {
  const auto [status, output] =
      runShell("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 mpirun -np 2 --oversubscribe " +
               kBuild + "/tools/banyan-bench allgather -b 8 -e 1M -f 64 -n 3 -w 1 -c 1");
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
}

TEST_CASE("banyan-bench-mpi sendrecv: MPI_Sendrecv and MPI_Sendrecv_replace, checked", "[multiproc][launchers]") {
  const auto [status, output] =
      runShell("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 mpirun -np 3 --oversubscribe " +
               kBuild + "/tools/banyan-bench-mpi sendrecv -b 8 -e 1M -f 32 -n 3 -w 1 -c 1");
  INFO(output);
  CHECK(status == 0);
  CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
  CHECK_THAT(output, !Catch::Contains("N/A"));
}
#endif

// issue 18's C++ example, as its header comment runs it: torchrun-style variables (the store in
// rank 0's process), four ranks, one SIGKILLed from outside once all four are running (however
// long a sanitizer build takes to start); every survivor shrinks, checks its results on three
// ranks and ends the loop.
TEST_CASE("the elastic example goes on with the survivors when rank 0 or a middle rank is killed",
          "[multiproc][launchers][resilience]") {
  const int victim = GENERATE(0, 2);
  const int port = banyan::test::unusedPort();
  const std::string example = kBuild + "/examples/elastic_allreduce";
  const std::string script = fmt::format(
      "export WORLD_SIZE=4 MASTER_ADDR=127.0.0.1 MASTER_PORT={0} BANYAN_TIMEOUT=30s BANYAN_HEARTBEAT_MS=200 "
      "BANYAN_DEBUG=none; out=$(mktemp); pids=(); for r in 0 1 2 3; do RANK=$r {1} 6 4096 >>$out 2>&1 & "
      "pids+=($!); done; for i in $(seq 600); do [ $(grep -c running $out) = 4 ] && break; sleep 0.1; done; "
      "sleep 0.5; kill -9 ${{pids[{2}]}}; s=0; for r in 0 1 2 3; do [ $r = {2} ] && continue; "
      "wait ${{pids[$r]}} || s=1; done; wait; cat $out; rm -f $out; exit $s",
      port, example, victim);
  const auto [status, output] = runShell("timeout 90 bash -c '" + script + "' 2>&1");
  INFO(output);
  CHECK(status == 0);
  std::size_t continued = 0;
  for (std::size_t at = output.find("continued on 3 ranks"); at != std::string::npos;
       at = output.find("continued on 3 ranks", at + 1)) {
    ++continued;
  }
  CHECK(continued == 3);
  CHECK_THAT(output, Catch::Contains(fmt::format("rank {} was lost", victim)));
  CHECK_THAT(output, !Catch::Contains("expected"));  // no wrong element anywhere
}
