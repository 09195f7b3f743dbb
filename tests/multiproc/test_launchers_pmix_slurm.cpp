// Communicator::fromEnvironment() under the launchers of a cluster, end to end with the shipped
// example: mpirun without banyan-mpi (PMIx gives rank, size and the store's address; no
// MASTER_ADDR, no MPI_Init), an srun step's SLURM_* variables, and a real one-node Slurm started by
// tools/slurm-local.sh ([slurm-cluster], docs/testing.md).

#include "support/ports.hpp"
#include "support/shell.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>

using banyan::test::occurrences;
using banyan::test::runShell;

namespace {

const std::string kBuild = BANYAN_BUILD_DIR;
const std::string kSource = BANYAN_SOURCE_DIR;
const std::string kExample = kBuild + "/examples/allreduce_example";
// No other launcher's variables leak in from the test's own environment.
const std::string kClean =
    "env -u MASTER_ADDR -u MASTER_PORT -u RANK -u WORLD_SIZE -u BANYAN_RANK -u BANYAN_SIZE -u BANYAN_STORE_ADDR "
    "-u SLURM_PROCID -u SLURM_STEP_ID -u SLURM_STEPID -u PMIX_RANK -u PMIX_NAMESPACE";

// Every rank of `size` printed its right sum.
void checkSums(const std::string& output, int size) {
  const int sum = size * (size - 1) / 2;
  for (int rank = 0; rank < size; ++rank) {
    CHECK_THAT(output, Catch::Contains(fmt::format("rank {} of {}: sum {} (expected {})", rank, size, sum, sum)));
  }
}

}  // namespace

#if defined(BANYAN_HAVE_MPI) && defined(BANYAN_HAVE_PMIX)
TEST_CASE("mpirun without banyan-mpi: the example takes its ranks and the store from PMIx",
          "[multiproc][launchers][pmix]") {
  const int size = GENERATE(1, 2, 4, 8);
  const auto [status, output] = runShell(fmt::format(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 {} timeout 120 mpirun -np {} --oversubscribe "
      "-x BANYAN_DEBUG=info -x BANYAN_DEBUG_SUBSYS=bootstrap -x BANYAN_TIMEOUT=60s {}",
      kClean, size, kExample));
  INFO(output);
  CHECK(status == 0);
  checkSums(output, size);
  CHECK(occurrences(output, "INFO bootstrap: job found through PMIx variables") == static_cast<std::size_t>(size));
  CHECK_THAT(output, Catch::Contains(fmt::format("local rank 0 of {}", size)));
  // The session ends with the communicator's store, before the process exits.
  CHECK(occurrences(output, "INFO bootstrap: PMIx: PMIx_Finalize done") == static_cast<std::size_t>(size));
  // PMIx_Init and PMIx_Finalize changed no signal disposition nor the CPU affinity (the guard
  // would say so at WARN), and nothing else went wrong loudly.
  CHECK_THAT(output, !Catch::Contains("WARN"));
}
// tests/helpers/crash_after_create compares its signal dispositions, affinity and environment
// before fromEnvironment() and after an allreduce, then crashes: both ranks wrote their crash
// file (nothing had changed) and died by SIGSEGV, not by anything PMIx installed.
TEST_CASE("under mpirun the PMIx bootstrap leaves signal dispositions, affinity and environment as they were",
          "[multiproc][launchers][pmix][process-state]") {
  char pattern[] = "/tmp/banyan-pmix-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::string dir = pattern;
  const auto [status, output] = runShell(
      fmt::format("cd {0} && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 {1} timeout 120 mpirun -np 2 "
                  "--oversubscribe -x BANYAN_TIMEOUT=60s {2}/tests/crash_after_create {0}",
                  dir, kClean, kBuild));
  INFO(output);
  CHECK(status != 0);
  CHECK_THAT(output, !Catch::Contains("changed"));
  CHECK_THAT(output, Catch::Contains("exited on signal 11"));
  CHECK(std::filesystem::exists(dir + "/crash.0"));
  CHECK(std::filesystem::exists(dir + "/crash.1"));
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

// Two simulated hosts (tools/netns-hosts.sh; root and network namespaces, left out by
// tools/run-tests.sh where they cannot be made): the store is advertised at host 0's address.
TEST_CASE("mpirun across 2 simulated hosts x 2 ranks: PMIx bootstrap, store on host 0's address",
          "[multiproc][launchers][pmix][netns]") {
  const auto [status, output] = runShell(fmt::format(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 BANYAN_TIMEOUT=30s BANYAN_DEBUG=info "
      "BANYAN_DEBUG_SUBSYS=bootstrap,transport {0} timeout 120 {1}/tools/netns-hosts.sh with 2 -- sh -c "
      "'\"$NETNS_HOSTS_SCRIPT\" run 0 mpirun --oversubscribe --mca plm_rsh_agent {1}/tools/netns-rsh "
      "--host 10.213.0.1:2,10.213.0.2:2 -np 4 -x BANYAN_TIMEOUT -x BANYAN_DEBUG -x BANYAN_DEBUG_SUBSYS {2}'",
      kClean, kSource, kExample));
  INFO(output);
  CHECK(status == 0);
  checkSums(output, 4);
  CHECK(occurrences(output, "through PMIx variables") == 4);
  CHECK(occurrences(output, "store at 10.213.0.1:") == 4);
  CHECK(occurrences(output, "local rank 0 of 2") == 2);
  CHECK_THAT(output, Catch::Contains("r0 c0 INFO transport: transports per peer: shm to rank 1; tcp to ranks 2-3"));
}
#endif

TEST_CASE("PMIX_RANK without a PMIx server behind it is a clear error, not a hang", "[multiproc][launchers][pmix]") {
  const auto [status, output] =
      runShell(fmt::format("{} PMIX_RANK=0 PMIX_NAMESPACE=nobody BANYAN_TIMEOUT=10s timeout 60 {}", kClean, kExample));
  INFO(output);
  CHECK(status == 2);  // the example's exit code for a banyan::Error
#ifdef BANYAN_HAVE_PMIX
  CHECK_THAT(output, Catch::Contains("PMIx_Init failed") && Catch::Contains("PMIX_RANK is set"));
#else
  CHECK_THAT(output, Catch::Contains("no PMIx support"));
#endif
}

TEST_CASE("an srun step's SLURM_* variables start the example (rank 0 serves on the first node)",
          "[multiproc][launchers][slurm]") {
  const int port = banyan::test::unusedPort();
  const std::string env = fmt::format(
      "{} BANYAN_TIMEOUT=30s BANYAN_DEBUG=info BANYAN_DEBUG_SUBSYS=bootstrap SLURM_NTASKS=3 "
      "SLURM_STEP_NODELIST='localhost,other[1-2]' SLURM_JOB_ID=77 SLURM_STEP_ID=0 MASTER_PORT={}",
      kClean, port);
  const auto [status, output] = runShell(fmt::format(
      "({0} SLURM_PROCID=2 SLURM_LOCALID=2 timeout 60 {1} & {0} SLURM_PROCID=1 SLURM_LOCALID=1 timeout 60 {1} & "
      "{0} SLURM_PROCID=0 SLURM_LOCALID=0 timeout 60 {1}; r0=$?; wait %1; r2=$?; wait %2; r1=$?; "
      "exit $((r0 | r1 | r2)))",
      env, kExample));
  INFO(output);
  CHECK(status == 0);
  checkSums(output, 3);
  CHECK(occurrences(output, "job found through SLURM_* variables") == 3);
  CHECK_THAT(output, Catch::Contains(fmt::format("store at localhost:{} from the first node of the step", port)));
}

TEST_CASE("a malformed SLURM_* variable stops the rank with its name", "[multiproc][launchers][slurm]") {
  const auto [status, output] = runShell(fmt::format(
      "{} SLURM_PROCID=0 SLURM_STEP_ID=0 SLURM_NTASKS=2 SLURM_JOB_ID=5 SLURM_STEP_NODELIST='n[1-' timeout 60 {}",
      kClean, kExample));
  INFO(output);
  CHECK(status == 2);
  CHECK_THAT(output, Catch::Contains("SLURM_STEP_NODELIST='n[1-': '[' without ']'"));
}

// Needs slurmctld, slurmd, slurm-client and munge (tools/install-deps.sh installs them) and
// root; starts the one-node cluster of tools/slurm-local.sh if it is not up, and stops it again
// however the case ends. One body, no sections: the cluster comes up once.
TEST_CASE("a real one-node Slurm runs banyan-bench and the example under srun and sbatch",
          "[multiproc][launchers][slurm-cluster]") {
  const std::string script = kSource + "/tools/slurm-local.sh";
  const bool wasUp = runShell(script + " status").first == 0;
  struct StopAfter {
    std::string script;
    bool wasUp;
    ~StopAfter() {
      if (!wasUp) runShell(script + " down");
    }
  } stopAfter{script, wasUp};
  const auto [upStatus, upOutput] = runShell(script + " up");
  INFO(upOutput);
  REQUIRE(upStatus == 0);
  const std::string slurm = kClean + " SLURM_CONF=/tmp/banyan-slurm/slurm.conf BANYAN_TIMEOUT=60s";
  {
    INFO("srun -n 4 banyan-bench allreduce, checked");
    const auto [status, output] = runShell(slurm + " timeout 120 srun -n 4 " + kBuild +
                                           "/tools/banyan-bench allreduce -b 8 -e 1M -f 64 -n 3 -w 1 -c 1");
    INFO(output);
    CHECK(status == 0);
    CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
  }
  for (const std::string mpi : {"none", "pmix"}) {
    INFO("srun --mpi=" + mpi + " -n 4: the example (none: SLURM_*, pmix: PMIx)");
    const auto [status, output] = runShell(
        slurm + " BANYAN_DEBUG=info BANYAN_DEBUG_SUBSYS=bootstrap timeout 120 srun --mpi=" + mpi + " -n 4 " + kExample);
    INFO(output);
    CHECK(status == 0);
    checkSums(output, 4);
    CHECK(occurrences(output, mpi == "pmix" ? "through PMIx variables" : "through SLURM_* variables") == 4);
  }
  {
    INFO("sbatch --wait examples/allreduce.sbatch");
    const std::string out = kBuild + "/slurm-sbatch-test.out";
    const auto [status, output] = runShell(fmt::format(
        "rm -f {0}; cd {1} && {2} BANYAN_EXAMPLE={3} timeout 180 sbatch --wait --output={0} examples/allreduce.sbatch; "
        "r=$?; cat {0}; exit $r",
        out, kSource, slurm, kExample));
    INFO(output);
    CHECK(status == 0);
    checkSums(output, 4);
  }
  if (!wasUp) {
    stopAfter.wasUp = true;  // stopped here, where a failure to stop is a failure of the case
    CHECK(runShell(script + " down").first == 0);
  }
}
