// launchLocal: the store's socket is bound and listening before the first fork, so every
// child knows the address at birth and its first connect waits in the listen backlog until
// the parent's TcpStoreServer (started after the forks, so fork happens single-threaded)
// accepts it.

#include "bootstrap/local_launcher.hpp"

#include <banyan/tcp_store.hpp>

#include "common/host_port.hpp"
#include "common/status.hpp"
#include "config/config.hpp"
#include "security/key_source.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <optional>
#include <thread>

namespace banyan::bootstrap {

namespace {

using Clock = std::chrono::steady_clock;

// Children are polled with waitpid(WNOHANG) between sleeps growing to this: short enough that
// a test of a quick job does not wait noticeably, long enough to cost nothing.
constexpr std::chrono::milliseconds kMaxPollSleep{10};

// A socket on loopback (127.0.0.1, or ::1 with options.ipv6) with a kernel-chosen port,
// listening. Returns the fd and the port.
std::pair<int, std::uint16_t> listenOnLoopback(bool ipv6) {
  const char* where = ipv6 ? "[::1]" : "127.0.0.1";
  const int fd = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(ErrorCode::System, "launcher: store socket() for {}: {}", where, errnoText(errno));
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (ipv6) {
    auto& address = reinterpret_cast<sockaddr_in6&>(storage);
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    length = sizeof address;
  } else {
    auto& address = reinterpret_cast<sockaddr_in&>(storage);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof address;
  }
  auto* address = reinterpret_cast<sockaddr*>(&storage);
  if (::bind(fd, address, length) != 0 || ::listen(fd, SOMAXCONN) != 0 || ::getsockname(fd, address, &length) != 0) {
    const int err = errno;
    ::close(fd);
    fail(ErrorCode::System, "launcher: cannot listen on {}: {}", where, errnoText(err));
  }
  const std::uint16_t port = ipv6 ? reinterpret_cast<const sockaddr_in6&>(storage).sin6_port
                                  : reinterpret_cast<const sockaddr_in&>(storage).sin_port;
  return {fd, ntohs(port)};
}

// In the child, straight after fork: die with the parent, drop the parent's listening socket,
// and learn who we are from the environment.
void prepareChild(pid_t parent, int listeningFd, int rank, int n, std::uint16_t port, const LaunchOptions& options,
                  const std::string& jobKeyHex) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died before prctl took effect; then we were reparented already.
  if (::getppid() != parent) ::_exit(1);
  ::close(listeningFd);
  ::setenv("BANYAN_RANK", std::to_string(rank).c_str(), 1);
  ::setenv("BANYAN_SIZE", std::to_string(n).c_str(), 1);
  ::setenv("BANYAN_STORE_ADDR", hostPortText(options.ipv6 ? "::1" : "127.0.0.1", port).c_str(), 1);
  // The job key goes first, so options.environment can still replace it (tests of a wrong key).
  if (!jobKeyHex.empty()) ::setenv("BANYAN_JOB_KEY", jobKeyHex.c_str(), 1);
  for (const auto& [name, value] : options.environment) ::setenv(name.c_str(), value.c_str(), 1);
  if (options.bindToCores) {
    cpu_set_t allowed;
    if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0) {
      // The (rank mod count)-th CPU this process may use.
      int wanted = rank % CPU_COUNT(&allowed);
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &allowed) || wanted-- != 0) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ::sched_setaffinity(0, sizeof one, &one);  // best effort: unpinned still works
        break;
      }
    }
  }
}

[[noreturn]] void exitChild(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  // _exit: the parent's atexit handlers and static destructors (a test framework's, a
  // server's) are not ours to run.
  ::_exit(code);
}

struct Child {
  pid_t pid = -1;
  RankExit exit;
  bool done = false;
};

// A variable as the ranks will see it: options.environment over this process's environment.
std::optional<std::string> inChildEnvironment(const LaunchOptions& options, const char* name) {
  if (auto it = options.environment.find(name); it != options.environment.end()) {
    if (it->second.empty()) return std::nullopt;
    return it->second;
  }
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// The key the ranks will hold, resolved as they will resolve it (security/key_source.hpp):
// none with BANYAN_AUTH=off, the BANYAN_AUTH_KEY-derived one, else a fresh random one (which
// replaces any BANYAN_JOB_KEY this process inherited: every job has its own).
std::optional<security::JobKey> keyForJob(const LaunchOptions& options) {
  if (auto value = inChildEnvironment(options, "BANYAN_AUTH");
      value && !config::parseAuthSwitch(*value, "BANYAN_AUTH")) {
    return std::nullopt;
  }
  if (auto passphrase = inChildEnvironment(options, "BANYAN_AUTH_KEY")) return security::deriveKey(*passphrase);
  if (auto it = options.environment.find("BANYAN_JOB_KEY"); it != options.environment.end()) {
    security::JobKey key;
    security::fromHex(it->second, "LaunchOptions BANYAN_JOB_KEY", key).throwIfError();
    return key;
  }
  return security::randomKey();
}

RankExit decodeStatus(int rank, int status) {
  RankExit result;
  result.rank = rank;
  if (WIFEXITED(status)) {
    result.exitCode = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

// Forks the ranks, serves the store, and reaps them. `runChild` never returns in the child.
std::vector<RankExit> launch(int n, const std::function<void(int rank)>& runChild, const LaunchOptions& options) {
  if (n < 1) fail(ErrorCode::InvalidUsage, "launcher: need at least 1 rank, got {}", n);
  const auto deadline = Clock::now() + options.deadline;
  auto [listeningFd, port] = listenOnLoopback(options.ipv6);

  // Buffered output would otherwise be written once by the parent and once per child.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);

  // A fresh key per job (docs/security.md): the ranks find it in their environment, the store
  // server below demands proof of it. None when the ranks will run with authentication off.
  const std::optional<security::JobKey> jobKey = keyForJob(options);
  const std::string jobKeyHex =
      jobKey && !inChildEnvironment(options, "BANYAN_AUTH_KEY") ? security::toHex(*jobKey) : std::string();

  const pid_t parent = ::getpid();
  std::vector<Child> children(n);
  for (int rank = 0; rank < n; ++rank) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      prepareChild(parent, listeningFd, rank, n, port, options, jobKeyHex);
      runChild(rank);
      exitChild(127);  // not reached: runChild exits
    }
    if (pid < 0) {
      const int err = errno;
      for (int r = 0; r < rank; ++r) ::kill(children[r].pid, SIGKILL);
      for (int r = 0; r < rank; ++r) ::waitpid(children[r].pid, nullptr, 0);
      ::close(listeningFd);
      fail(ErrorCode::System, "launcher: fork of rank {} of {} failed: {}", rank, n, errnoText(err));
    }
    children[rank].pid = pid;
  }

  {
    // Serves the store until every child is reaped; stopped before we return.
    std::unique_ptr<TcpStoreServer> server;
    try {
      const security::ScopedServerKey serverKey(jobKey);
      server = std::make_unique<TcpStoreServer>(listeningFd);
    } catch (...) {
      for (auto& child : children) ::kill(child.pid, SIGKILL);
      for (auto& child : children) ::waitpid(child.pid, nullptr, 0);
      throw;
    }

    int running = n;
    auto sleep = std::chrono::milliseconds(1);
    while (running > 0) {
      for (int rank = 0; rank < n; ++rank) {
        Child& child = children[rank];
        if (child.done) continue;
        int status = 0;
        const pid_t reaped = ::waitpid(child.pid, &status, WNOHANG);
        if (reaped == child.pid || (reaped < 0 && errno == ECHILD)) {
          child.exit = reaped == child.pid ? decodeStatus(rank, status) : RankExit{rank, -1, 0};
          child.done = true;
          --running;
        }
      }
      if (running == 0) break;
      if (Clock::now() >= deadline) {
        for (auto& child : children) {
          if (child.done) continue;
          ::kill(child.pid, SIGKILL);
          int status = 0;
          ::waitpid(child.pid, &status, 0);
          child.exit = decodeStatus(static_cast<int>(&child - children.data()), status);
          child.exit.killedAtDeadline = true;
          child.done = true;
        }
        break;
      }
      std::this_thread::sleep_for(
          std::min<Clock::duration>(sleep, std::max<Clock::duration>(deadline - Clock::now(), {})));
      sleep = std::min(sleep * 2, kMaxPollSleep);
    }
  }

  std::vector<RankExit> exits;
  exits.reserve(n);
  for (auto& child : children) exits.push_back(child.exit);
  return exits;
}

}  // namespace

std::string RankExit::describe() const {
  if (killedAtDeadline) return fmt::format("rank {} killed: still running at deadline", rank);
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return name ? fmt::format("rank {} killed by SIG{} ({})", rank, name, strsignal(signal))
                : fmt::format("rank {} killed by signal {}", rank, signal);
  }
  return fmt::format("rank {} exited with {}", rank, exitCode);
}

std::vector<RankExit> launchLocal(int n, const std::function<int(int rank)>& body, const LaunchOptions& options) {
  return launch(
      n,
      [&body](int rank) {
        int code = 1;
        try {
          code = body(rank);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
        } catch (...) {
          std::fprintf(stderr, "rank %d: unknown exception\n", rank);
        }
        exitChild(code);
      },
      options);
}

std::vector<RankExit> launchLocalExec(int n, const std::vector<std::string>& argv, const LaunchOptions& options) {
  if (argv.empty()) fail(ErrorCode::InvalidUsage, "launcher: empty command line");
  return launch(
      n,
      [&argv](int rank) {
        std::vector<char*> args;
        for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "rank %d: cannot exec %s: %s\n", rank, args[0], errnoText(errno).c_str());
        exitChild(127);
      },
      options);
}

}  // namespace banyan::bootstrap
