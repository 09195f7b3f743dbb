// How a rank explains a peer's close (src/runtime/failure_accounts.hpp), with two ranks'
// control planes in this process over real UDP sockets on loopback.

#include "runtime/failure_accounts.hpp"
#include "support/control_plane_job.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <string>
#include <thread>

using namespace banyan;
using namespace std::chrono_literals;

TEST_CASE("a peer of this host that closes and speaks late is heard, not declared lost", "[unit][resilience]") {
  // Rank 0 marks its side closed (as a shared-memory rank does the moment its operation fails)
  // but its account comes 1 s later, as when its threads wait for a core on a loaded machine.
  // Its process runs (both ranks are this process), so rank 1 waits for the word instead of
  // announcing a live rank lost after the short lookup.
  constexpr int kSize = 2;
  test::Job job(kSize, resilience::LivenessSettings{0ms, 5}, test::allInThisProcess(kSize));
  auto& planes = job.planes;
  detail::Identity identity;
  identity.rank = 1;
  identity.size = kSize;
  identity.name = "communicator 1";
  identity.prefix = "banyan/1/";
  detail::FailureAccounts accounts(nullptr, identity, 30s, *planes[1]);

  auto late = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(1s);
    planes[0]->leave("allreduce #3 on rank 0 of 2: not done within the 30000 ms timeout");
  });
  const Status closed =
      Status(ErrorCode::Remote, "rank 0 (pid 1, shared memory) closed its connection").withLostPeer(0);
  const Status told = accounts.settleTransfer(closed, "recv #1 from rank 0 on rank 1 of 2");
  late.get();
  INFO(told.message());
  CHECK_THAT(told.message(), Catch::Contains("rank 0 had failed before it closed: allreduce #3 on rank 0 of 2"));
  CHECK_FALSE(planes[1]->isLost(0));
  CHECK(planes[0]->lost().empty());
}
