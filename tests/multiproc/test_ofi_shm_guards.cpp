// What the ofi transport does around libfabric 1.17's shm faults (docs/ofi.md, "Three shm
// bugs" and known problems): the credit arithmetic that keeps shm's receive pool from filling,
// and the watchdog that ends a process whose driver spins inside libfabric for ever instead of
// letting it hang. (The flood that filled the pool runs for real in test_collectives.cpp's
// small-slice test over ofi-shm.)

#include <catch2/catch.hpp>

#ifdef BANYAN_HAVE_OFI

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <thread>

#include "transports/ofi/flow_control.hpp"
#include "transports/ofi/provider_watchdog.hpp"

using banyan::transport::ofi::Credits;
using banyan::transport::ofi::ProviderWatchdog;
using namespace std::chrono_literals;

namespace {

struct ChildResult {
  bool exited = false;  // ended by itself before the deadline
  int code = -1;
  std::string stderrText;
};

// Runs `body` in a child process whose stderr is captured; waits at most `deadline` for it
// (then kills it: exited stays false).
template <typename Body>
ChildResult inChild(Body body, std::chrono::milliseconds deadline) {
  int pipeFds[2];
  REQUIRE(::pipe(pipeFds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(pipeFds[1], STDERR_FILENO);
    ::close(pipeFds[0]);
    body();
    ::_exit(0);
  }
  ::close(pipeFds[1]);
  ChildResult result;
  const auto end = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  bool reaped = false;
  while (!reaped && std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      result.exited = WIFEXITED(status);
      result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  if (!reaped) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  char buffer[4096];
  ssize_t got = 0;
  while ((got = ::read(pipeFds[0], buffer, sizeof buffer)) > 0)
    result.stderrText.append(buffer, static_cast<std::size_t>(got));
  ::close(pipeFds[0]);
  return result;
}

// A grandchild that outlives inChild's child lets go of the captured stderr (and of every
// other descriptor, the pipe's own among them), since the parent reads it to its end.
void closeOutputs() {
  for (int fd = STDERR_FILENO; fd < 1024; ++fd) ::close(fd);
}

}  // namespace

TEST_CASE("ofi shm: credits bound what a peer has in flight and what a rank has posted", "[ofi]") {
  // 5 ranks over shm's 1024-entry pool, 128 kept for control: 112 per peer each way.
  const std::uint32_t window = Credits::windowFor(1024, 128, 4);
  CHECK(window == 112);
  CHECK(2 * 4 * window + 128 <= 1024);
  CHECK(Credits::windowFor(1024, 128, 1) == 448);
  CHECK(Credits::windowFor(1024, 128, 10000) == 1);  // never 0: a window of 0 would switch it off

  Credits credits(3, 4);
  // Sender: 4 messages to rank 1, then none until rank 1 gives some back.
  for (int i = 0; i < 4; ++i) CHECK(credits.take(1));
  CHECK_FALSE(credits.take(1));
  CHECK(credits.take(2));  // another peer's credits are its own
  credits.give(1, 2);
  CHECK(credits.take(1));
  CHECK(credits.take(1));
  CHECK_FALSE(credits.take(1));

  // Receiver: at most 4 receives from rank 2 posted; each message received frees one, and the
  // credits go back in batches of 2 (half the window).
  for (int i = 0; i < 4; ++i) CHECK(credits.mayPost(2));
  CHECK_FALSE(credits.mayPost(2));
  CHECK(credits.received(2) == 0);
  CHECK(credits.received(2) == 2);
  CHECK(credits.mayPost(2));
  CHECK(credits.mayPost(2));
  CHECK_FALSE(credits.mayPost(2));

  Credits off;
  CHECK_FALSE(off.enabled());
  CHECK(off.take(0));
  CHECK(off.mayPost(0));
  CHECK(off.received(0) == 0);
}

TEST_CASE("ofi: receive shares bound what a rank posts per peer and send no credits", "[ofi]") {
  // sockets' 256-entry queue, 64 kept for control receives, among 4 peers: 48 each.
  Credits shares = Credits::receiveShares(5, 256, 64, 4);
  CHECK(shares.enabled());
  CHECK(shares.window() == 48);
  CHECK(Credits::receiveShares(5, 2048, 64, 4).window() == 496);
  CHECK(Credits::receiveShares(5, 64, 64, 4).window() == 1);  // never 0
  // A sender is never held: the provider keeps early messages itself.
  for (int i = 0; i < 1000; ++i) REQUIRE(shares.take(1));
  // A receiver posts at most 48 from rank 2, and a message received frees one without owing
  // a credit message.
  for (int i = 0; i < 48; ++i) CHECK(shares.mayPost(2));
  CHECK_FALSE(shares.mayPost(2));
  CHECK(shares.mayPost(3));  // another peer's share is its own
  for (int i = 0; i < 10; ++i) CHECK(shares.received(2) == 0);
  for (int i = 0; i < 10; ++i) CHECK(shares.mayPost(2));
  CHECK_FALSE(shares.mayPost(2));
}

TEST_CASE("ofi shm: a libfabric call that never returns ends the process with a message, not a hang", "[ofi]") {
  const ChildResult stuck = inChild(
      [] {
        ProviderWatchdog watchdog(300ms, "rank 7 (ofi shm)");
        watchdog.enter();  // as a driver spinning inside fi_tsend would
        std::this_thread::sleep_for(10s);
      },
      8s);
  CHECK(stuck.exited);
  CHECK(stuck.code == ProviderWatchdog::kExitCode);
  CHECK_THAT(stuck.stderrText, Catch::Contains("rank 7 (ofi shm)") && Catch::Contains("has not returned for") &&
                                   Catch::Contains("spinning on a lock a dead or stopped rank held"));
  CHECK_THAT(stuck.stderrText, !Catch::Contains("has exited") && !Catch::Contains("is stopped"));
}

TEST_CASE("ofi shm: the watchdog's message names the peers that have exited or are stopped", "[ofi]") {
  const ChildResult stuck = inChild(
      [] {
        // Three peer processes of this child: one exited (a zombie: nobody reaps it), one
        // stopped, one running.
        const pid_t exited = ::fork();
        if (exited == 0) ::_exit(0);
        const pid_t stopped = ::fork();
        if (stopped == 0) {
          closeOutputs();
          ::raise(SIGSTOP);
          ::pause();
          ::_exit(0);
        }
        const pid_t running = ::fork();
        if (running == 0) {
          closeOutputs();
          ::pause();
          ::_exit(0);
        }
        // Until the exit and the stop have taken effect.
        for (int i = 0; i < 200 && ProviderWatchdog::peerStates({{3, exited}, {1, stopped}}).find("is stopped") ==
                                       std::string::npos;
             ++i) {
          std::this_thread::sleep_for(10ms);
        }
        ProviderWatchdog watchdog(300ms, "rank 0 (ofi shm)");
        watchdog.watchPeer(3, exited);
        watchdog.watchPeer(1, stopped);
        watchdog.watchPeer(2, running);
        std::fprintf(stderr, "pids %d %d %d\n", exited, stopped, running);
        std::fflush(stderr);
        // The watchdog ends this process; the test kills the two left running by pid below.
        watchdog.enter();
        std::this_thread::sleep_for(10s);
      },
      8s);
  CHECK(stuck.exited);
  CHECK(stuck.code == ProviderWatchdog::kExitCode);
  int exited = 0, stopped = 0, running = 0;
  REQUIRE(std::sscanf(stuck.stderrText.c_str(), "pids %d %d %d", &exited, &stopped, &running) == 3);
  ::kill(stopped, SIGKILL);
  ::kill(running, SIGKILL);
  CHECK_THAT(stuck.stderrText, Catch::Contains(fmt::format("rank 3 (pid {}) has exited", exited)) &&
                                   Catch::Contains(fmt::format("rank 1 (pid {}) is stopped", stopped)));
  CHECK_THAT(stuck.stderrText, !Catch::Contains(fmt::format("rank 2 (pid {})", running)));
}

TEST_CASE("ofi shm: calls that return in time never trip the watchdog", "[ofi]") {
  const ChildResult healthy = inChild(
      [] {
        ProviderWatchdog watchdog(300ms, "rank 3 (ofi shm)");
        const auto end = std::chrono::steady_clock::now() + 1500ms;
        while (std::chrono::steady_clock::now() < end) {
          ProviderWatchdog::Inside inside(&watchdog);
          std::this_thread::sleep_for(100ms);  // a slow call, but a third of the bound
        }
      },
      8s);
  CHECK(healthy.exited);
  CHECK(healthy.code == 0);
  CHECK(healthy.stderrText.empty());
}

#endif  // BANYAN_HAVE_OFI
