// The Slurm bootstrap's reading of an srun step (src/bootstrap/slurm_environment.hpp): node list
// expansion, the SLURM_* variables, where the store is, what wins when several launchers' variables
// are present, and the errors that name the variable at fault. A rank other than 0 only makes a
// store client, which connects on its first call; the two rank-0 cases fail before serving (a
// host not of this machine) or at the listen (a port another server holds), on loopback.

#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include "bootstrap/environment.hpp"
#include "bootstrap/slurm_environment.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

using namespace banyan;
using namespace banyan::bootstrap;

namespace {

const char* const kVariables[] = {
    "SLURM_PROCID",   "SLURM_NTASKS",      "SLURM_LOCALID",  "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST",
    "SLURM_NODELIST", "SLURM_JOB_ID",      "SLURM_STEP_ID",  "SLURM_STEPID",        "MASTER_ADDR",
    "MASTER_PORT",    "BANYAN_STORE_ADDR", "BANYAN_RANK",    "BANYAN_SIZE",         "RANK",
    "WORLD_SIZE",     "PMIX_RANK",         "PMIX_NAMESPACE", "BANYAN_STORE_PREFIX"};

// Clears every launcher variable for a test and puts back what was there (the unit tests may
// themselves run inside an srun step or under mpirun).
class SlurmEnvironment {
 public:
  SlurmEnvironment() {
    for (const char* name : kVariables) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      ::unsetenv(name);
    }
  }
  ~SlurmEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  // A task of a 4-task step on node01..node02, job 1234 step 0.
  void step(const char* rank = "2") {
    set("SLURM_PROCID", rank);
    set("SLURM_NTASKS", "4");
    set("SLURM_LOCALID", "0");
    set("SLURM_STEP_NODELIST", "node[01-02]");
    set("SLURM_JOB_ID", "1234");
    set("SLURM_STEP_ID", "0");
  }
  void set(const char* name, const char* value) { ::setenv(name, value, 1); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// The InvalidUsage message `body` throws, or "" when it does not throw.
template <typename F>
std::string usageError(F body) {
  try {
    body();
  } catch (const banyan::Error& e) {
    CHECK(e.code() == ErrorCode::InvalidUsage);
    return e.detail();
  }
  return "";
}

using Hosts = std::vector<std::string>;

}  // namespace

TEST_CASE("slurm: node lists expand as Slurm writes them", "[slurm]") {
  CHECK(expandNodeList("node[01-03,7]", "L") == Hosts{"node01", "node02", "node03", "node7"});
  CHECK(expandNodeList("login", "L") == Hosts{"login"});
  CHECK(expandNodeList("a,b[8-10],c", "L") == Hosts{"a", "b8", "b9", "b10", "c"});
  CHECK(expandNodeList("n[08-11]", "L") == Hosts{"n08", "n09", "n10", "n11"});
  CHECK(expandNodeList("rack[1-2]-n[1-2]", "L") == Hosts{"rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"});
  CHECK(expandNodeList("gpu[3],cpu[001-002]-ib", "L") == Hosts{"gpu3", "cpu001-ib", "cpu002-ib"});
}

TEST_CASE("slurm: a malformed node list is refused naming the variable and the fault", "[slurm]") {
  const auto error = [](const char* text) { return usageError([&] { expandNodeList(text, "SLURM_NODELIST"); }); };
  CHECK_THAT(error("node[01-03"), Catch::Contains("SLURM_NODELIST='node[01-03'") && Catch::Contains("without ']'"));
  CHECK_THAT(error("node01]"), Catch::Contains("SLURM_NODELIST") && Catch::Contains("without '['"));
  CHECK_THAT(error("node[3-1]"), Catch::Contains("range '3-1' runs backwards"));
  CHECK_THAT(error("node[a-b]"), Catch::Contains("'a-b' in [...] is not a number"));
  CHECK_THAT(error("node[1,]"), Catch::Contains("'' in [...] is not a number"));
  CHECK_THAT(error("a,,b"), Catch::Contains("empty host name"));
  CHECK_THAT(error(""), Catch::Contains("empty host name"));
  CHECK_THAT(error("n[[1]]"), Catch::Contains("nested"));
  CHECK_THAT(error("n[0-999999],m[0-9]"), Catch::Contains("more than 1000000 hosts"));
}

TEST_CASE("slurm: a step's identity and the store on its first node at a derived port", "[slurm]") {
  SlurmEnvironment env;
  env.step();
  CHECK(slurmStepPresent());
  const SlurmStep step = readSlurmStep();
  CHECK(step.rank == 2);
  CHECK(step.size == 4);
  CHECK(step.localRank == 0);
  CHECK(step.nodes == Hosts{"node01", "node02"});
  CHECK(step.storeHost == "node01");
  CHECK(step.storePort == 12000 + (1234 * 16 + 0) % 20000);
  CHECK(step.rankZeroServes);
  // Another step of the same job gets another port.
  CHECK(derivedStorePort("1234", "1") == step.storePort + 1);
}

TEST_CASE("slurm: MASTER_ADDR, MASTER_PORT and BANYAN_STORE_ADDR place the store", "[slurm]") {
  SlurmEnvironment env;
  env.step();
  env.set("MASTER_PORT", "29511");
  CHECK(readSlurmStep().storeHost == "node01");
  CHECK(readSlurmStep().storePort == 29511);
  env.set("MASTER_ADDR", "head");
  CHECK(readSlurmStep().storeHost == "head");
  env.set("BANYAN_STORE_ADDR", "store.example:4000");
  const SlurmStep step = readSlurmStep();
  CHECK(step.storeHost == "store.example");
  CHECK(step.storePort == 4000);
  CHECK_FALSE(step.rankZeroServes);
}

TEST_CASE("slurm: the node list falls back from the step's to the job's", "[slurm]") {
  SlurmEnvironment env;
  env.step();
  ::unsetenv("SLURM_STEP_NODELIST");
  env.set("SLURM_NODELIST", "c[5-6]");
  CHECK(readSlurmStep().storeHost == "c5");
  env.set("SLURM_JOB_NODELIST", "d[1-2]");
  CHECK(readSlurmStep().storeHost == "d1");
}

TEST_CASE("slurm: malformed or missing SLURM_* variables are named", "[slurm]") {
  SlurmEnvironment env;
  env.step();
  const auto error = [] { return usageError([] { readSlurmStep(); }); };
  env.set("SLURM_PROCID", "two");
  CHECK_THAT(error(), Catch::Contains("SLURM_PROCID='two' is not an integer"));
  env.set("SLURM_PROCID", "4");
  CHECK_THAT(error(), Catch::Contains("SLURM_PROCID=4 is not below SLURM_NTASKS=4"));
  env.set("SLURM_PROCID", "1");
  ::unsetenv("SLURM_NTASKS");
  CHECK_THAT(error(), Catch::Contains("SLURM_NTASKS is not set"));
  env.set("SLURM_NTASKS", "4");
  env.set("SLURM_LOCALID", "-1");
  CHECK_THAT(error(), Catch::Contains("SLURM_LOCALID=-1 is out of range"));
  env.set("SLURM_LOCALID", "1");
  env.set("SLURM_STEP_NODELIST", "node[1-");
  CHECK_THAT(error(), Catch::Contains("SLURM_STEP_NODELIST='node[1-'"));
  env.set("SLURM_STEP_NODELIST", "node1");
  env.set("SLURM_JOB_ID", "12x");
  CHECK_THAT(error(), Catch::Contains("SLURM_JOB_ID='12x' is not an integer"));
  env.set("SLURM_JOB_ID", "12");
  env.set("MASTER_PORT", "70000");
  CHECK_THAT(error(), Catch::Contains("MASTER_PORT=70000 is out of range"));
  ::unsetenv("MASTER_PORT");
  env.set("BANYAN_STORE_ADDR", "nohost");
  CHECK_THAT(error(), Catch::Contains("BANYAN_STORE_ADDR='nohost' is not host:port"));
}

TEST_CASE("slurm: jobFromEnvironment takes a step, and torchrun's variables before it", "[slurm]") {
  SlurmEnvironment env;
  env.step("1");
  auto job = jobFromEnvironment();
  REQUIRE(job);
  CHECK(job->source == "SLURM_*");
  CHECK(job->rank == 1);
  CHECK(job->size == 4);
  CHECK(job->localRank == 0);
  CHECK_THAT(job->detail, Catch::Contains("job 1234 step 0") && Catch::Contains("store at node01:31744"));
  // torchrun started by srun: its variables describe the ranks, not Slurm's.
  env.set("RANK", "3");
  env.set("WORLD_SIZE", "8");
  env.set("MASTER_ADDR", "127.0.0.1");
  env.set("MASTER_PORT", "29512");
  job = jobFromEnvironment();
  REQUIRE(job);
  CHECK(job->source == "torchrun");
  CHECK(job->size == 8);
}

TEST_CASE("slurm: an sbatch script (no step id) is not taken for a rank", "[slurm]") {
  SlurmEnvironment env;
  env.step("0");
  ::unsetenv("SLURM_STEP_ID");
  CHECK_FALSE(slurmStepPresent());
  CHECK_FALSE(jobFromEnvironment());
  env.set("SLURM_STEPID", "3");  // the older name srun also sets
  CHECK(slurmStepPresent());
}

TEST_CASE("slurm: rank 0 not on the store host is told to set MASTER_ADDR", "[slurm]") {
  SlurmEnvironment env;
  env.step("0");
  // TEST-NET-1: no interface of this machine has it, and binding to it sends nothing.
  env.set("SLURM_STEP_NODELIST", "192.0.2.1,localhost");
  env.set("MASTER_PORT", "29513");
  CHECK_THAT(usageError([] { jobFromEnvironment(); }),
             Catch::Contains("rank 0 serves the store at 192.0.2.1") && Catch::Contains("set MASTER_ADDR"));
}

TEST_CASE("slurm: rank 0 names the port it cannot serve the store on", "[slurm]") {
  SlurmEnvironment env;
  env.step("0");
  env.set("SLURM_STEP_NODELIST", "127.0.0.1");
  // Another job's store already listens there.
  banyan::TcpStoreServer other("127.0.0.1", 0);
  const std::string port = std::to_string(other.port());
  env.set("MASTER_PORT", port.c_str());
  try {
    jobFromEnvironment();
    FAIL("rank 0 served the store on a port that was taken");
  } catch (const banyan::Error& e) {
    CHECK_THAT(e.detail(),
               Catch::Contains("rank 0 cannot serve the store on port " + port) && Catch::Contains("MASTER_PORT"));
  }
}
