// The pieces behind "banyan changes no process-wide state it does not own" (docs/architecture.md,
// "Process-wide state") and the ofi module's loading (docs/ofi.md, "Loading the module"): the
// guard puts back what guarded code changed and names it, the fabric probe reads sysfs and /dev
// only, and BANYAN_OFI_MODULE is the one path tried when set. The whole story, with real
// processes that crash, is tests/multiproc/test_process_state.cpp.

#include <catch2/catch.hpp>

#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "common/process_state.hpp"
#include "config/config.hpp"
#include "support/scoped_env.hpp"
#include "transports/ofi/fabric_probe.hpp"
#include "transports/ofi/ofi_loader.hpp"

namespace {

void ignoreSignal(int) {}

}  // namespace

TEST_CASE("the process-state guard puts back a changed signal handler and names it", "[process-state]") {
  struct sigaction original {};
  REQUIRE(::sigaction(SIGUSR2, nullptr, &original) == 0);
  {
    banyan::common::ProcessStateGuard guard;
    CHECK(guard.restore().empty());  // nothing changed yet
  }
  banyan::common::ProcessStateGuard guard;
  struct sigaction action {};
  action.sa_handler = ignoreSignal;
  sigemptyset(&action.sa_mask);
  REQUIRE(::sigaction(SIGUSR2, &action, nullptr) == 0);
  const auto undone = guard.restore();
  CHECK(undone == std::vector<std::string>{"handler of SIGUSR2"});
  struct sigaction now {};
  REQUIRE(::sigaction(SIGUSR2, nullptr, &now) == 0);
  CHECK(now.sa_handler == original.sa_handler);
}

TEST_CASE("the process-state guard puts back a changed CPU affinity mask", "[process-state]") {
  cpu_set_t original;
  REQUIRE(::sched_getaffinity(0, sizeof original, &original) == 0);
  if (CPU_COUNT(&original) < 2) {
    WARN("one CPU allowed: no narrower mask to set");
    return;
  }
  banyan::common::ProcessStateGuard guard;
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &original)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  REQUIRE(::sched_setaffinity(0, sizeof one, &one) == 0);
  CHECK(guard.restore() == std::vector<std::string>{"CPU affinity"});
  cpu_set_t now;
  REQUIRE(::sched_getaffinity(0, sizeof now, &now) == 0);
  CHECK(CPU_EQUAL(&now, &original));
}

TEST_CASE("signal names", "[process-state]") {
  CHECK(banyan::common::signalName(SIGSEGV) == "SIGSEGV");
  CHECK(banyan::common::signalName(SIGRTMIN + 3) == "SIGRTMIN+3");
}

TEST_CASE("the fabric probe finds RDMA, Slingshot and Omni-Path devices, and nothing in an empty tree",
          "[process-state][ofi]") {
  char pattern[] = "/tmp/banyan-probe-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::filesystem::path root = pattern;
  CHECK_FALSE(banyan::transport::ofi::findFabricDevice(root).found);
  std::filesystem::create_directories(root / "sys/class/infiniband");
  std::filesystem::create_directories(root / "dev");
  std::ofstream(root / "dev/null0") << "";
  CHECK_FALSE(banyan::transport::ofi::findFabricDevice(root).found);  // empty class, unrelated device
  std::ofstream(root / "dev/hfi1_0") << "";
  auto found = banyan::transport::ofi::findFabricDevice(root);
  CHECK(found.found);
  CHECK(found.path == (root / "dev/hfi1_0").string());
  std::filesystem::create_directories(root / "sys/class/infiniband/efa_0");
  found = banyan::transport::ofi::findFabricDevice(root);
  CHECK(found.path == (root / "sys/class/infiniband/efa_0").string());
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / "sys/class/cxi/cxi0");
  CHECK(banyan::transport::ofi::findFabricDevice(root).found);
  std::filesystem::remove_all(root);
}

TEST_CASE(
    "the ofi module is looked for beside libbanyan, then in the build directory, or only where "
    "BANYAN_OFI_MODULE says",
    "[process-state][ofi]") {
  banyan::config::Config config;
  const auto paths = banyan::transport::ofi::moduleCandidates(config);
  REQUIRE(!paths.empty());
  for (const auto& path : paths) CHECK(std::filesystem::path(path).filename() == "libbanyan-ofi.so");
  {
    banyan::test::ScopedEnv module("BANYAN_OFI_MODULE", "/somewhere/else.so");
    config = banyan::config::resolve({});
  }
  CHECK(config.ofiModule == "/somewhere/else.so");
  CHECK(banyan::transport::ofi::moduleCandidates(config) == std::vector<std::string>{"/somewhere/else.so"});
}
