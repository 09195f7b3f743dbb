// banyan-store-bench: the store server alone under 1..8192 clients (bench/store_scale.sh,
// issue 19 item 2). Each client is a TcpStore on a thread of its own, doing what a rank does at
// creation (tools/store_bench/store_load.hpp has the phases).
//
//   banyan-store-bench [--clients 64,256,1024] [--pairs K] [--timeout-s S] [--address HOST:PORT]
//
// Without --address it serves the store itself, from a forked process started afresh for each
// client count (so the clients' threads and descriptors are not counted as the server's), and
// reports the server process's peak threads and descriptors and the CPU time it used (the
// server's own cost, which the clients' scheduling on a loaded machine does not blur). With --address it loads a server
// that is already running (its threads and fds are then unknown: "-").
//
// Prints one markdown table row per client count; exits 1 when any client failed or read a
// wrong value, 2 on bad input (a count out of range, an address that does not answer).

#include "tools/store_bench/store_load.hpp"

#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include "common/host_port.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace banyan;

int usage(const std::string& why) {
  fmt::print(stderr,
             "banyan-store-bench: {}\nusage: banyan-store-bench [--clients N[,N...]] [--pairs K] [--timeout-s S] "
             "[--address HOST:PORT]\n  N is 1..{}; K (set/get pairs per client) is 1..100000\n",
             why, tools::kMaxStoreClients);
  return 2;
}

bool parseInt(const std::string& text, long low, long high, long& value) {
  char* end = nullptr;
  errno = 0;
  value = std::strtol(text.c_str(), &end, 10);
  return !text.empty() && end != text.c_str() && *end == '\0' && errno == 0 && value >= low && value <= high;
}

// The CPU time (user + system) a process has used, in milliseconds; -1 when unreadable.
double cpuMs(pid_t pid) {
  std::FILE* file = std::fopen(fmt::format("/proc/{}/stat", pid).c_str(), "r");
  if (file == nullptr) return -1;
  char text[1024] = {};
  const std::size_t size = std::fread(text, 1, sizeof text - 1, file);
  std::fclose(file);
  // Fields 14 and 15 (utime, stime), counted after the ')' that ends the command name.
  const char* at = std::strrchr(text, ')');
  if (size == 0 || at == nullptr) return -1;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(at + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Entries of /proc/<pid>/<dir> ("task": threads, "fd": descriptors); -1 when it cannot be read.
int countEntries(pid_t pid, const char* dir) {
  DIR* d = ::opendir(fmt::format("/proc/{}/{}", pid, dir).c_str());
  if (d == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(d)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(d);
  return count;
}

// A store server in a child process, until destroyed (the child sees its pipe close).
class ServerProcess {
 public:
  ServerProcess() {
    int toParent[2], toChild[2];
    if (::pipe(toParent) != 0 || ::pipe(toChild) != 0) fail("pipe");
    pid_ = ::fork();
    if (pid_ < 0) fail("fork");
    if (pid_ == 0) {
      ::close(toParent[0]);
      ::close(toChild[1]);
      serve(toParent[1], toChild[0]);
    }
    ::close(toParent[1]);
    ::close(toChild[0]);
    control_ = toChild[1];
    std::uint16_t port = 0;
    if (::read(toParent[0], &port, sizeof port) != static_cast<ssize_t>(sizeof port) || port == 0) {
      ::close(toParent[0]);
      throw std::runtime_error("the store server process did not start (its message is above)");
    }
    ::close(toParent[0]);
    port_ = port;
  }
  ~ServerProcess() {
    ::close(control_);
    int status = 0;
    ::waitpid(pid_, &status, 0);  // bounded: the child leaves as soon as it reads end-of-file
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  [[noreturn]] static void fail(const char* what) {
    throw std::runtime_error(fmt::format("cannot start the store server process: {}: {}", what, std::strerror(errno)));
  }

  [[noreturn]] static void serve(int toParent, int fromParent) {
    try {
      TcpStoreServer server("127.0.0.1", 0);
      const std::uint16_t port = server.port();
      if (::write(toParent, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) std::_Exit(1);
      char byte;
      while (::read(fromParent, &byte, 1) != 0 && errno == EINTR) {
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "banyan-store-bench: store server: {}\n", e.what());
      std::_Exit(1);
    }
    std::_Exit(0);
  }

  pid_t pid_ = -1;
  int control_ = -1;
  std::uint16_t port_ = 0;
};

// Listing /proc/<pid>/fd of a server with thousands of connections costs a few milliseconds of
// this machine's two cores: often enough to see the peak, which lasts the whole run.
constexpr auto kSampleInterval = std::chrono::milliseconds(50);

// The peak threads and descriptors of a process, sampled every kSampleInterval.
class PeakSampler {
 public:
  explicit PeakSampler(pid_t pid)
      : thread_([this, pid] {
          while (!stop_) {
            threads_ = std::max(threads_.load(), countEntries(pid, "task"));
            fds_ = std::max(fds_.load(), countEntries(pid, "fd"));
            std::this_thread::sleep_for(kSampleInterval);
          }
        }) {}
  ~PeakSampler() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int threads() const { return threads_; }
  int fds() const { return fds_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> threads_{-1};
  std::atomic<int> fds_{-1};
  std::thread thread_;
};

// Every client holds a descriptor in this process: raise the soft limit that far if the hard
// one allows (this is the bench's own process, not a library's).
bool ensureDescriptors(int clients) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  const rlim_t needed = static_cast<rlim_t>(clients) + 64;
  if (limit.rlim_cur >= needed) return true;
  if (limit.rlim_max < needed) return false;
  limit.rlim_cur = needed;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> counts{64, 256, 1024};
  int pairs = 20;
  long timeoutSeconds = 120;
  std::optional<HostPort> address;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage(fmt::format("{} needs a value", arg));
    const std::string value = argv[++i];
    long number = 0;
    if (arg == "--clients") {
      counts.clear();
      std::size_t at = 0;
      while (at <= value.size()) {
        const std::size_t comma = std::min(value.find(',', at), value.size());
        if (!parseInt(value.substr(at, comma - at), 1, tools::kMaxStoreClients, number)) {
          return usage(fmt::format("--clients: '{}' is not a client count of 1..{}", value.substr(at, comma - at),
                                   tools::kMaxStoreClients));
        }
        counts.push_back(static_cast<int>(number));
        at = comma + 1;
      }
    } else if (arg == "--pairs") {
      if (!parseInt(value, 1, 100000, number)) return usage(fmt::format("--pairs: '{}' is not 1..100000", value));
      pairs = static_cast<int>(number);
    } else if (arg == "--timeout-s") {
      if (!parseInt(value, 1, 3600, number)) return usage(fmt::format("--timeout-s: '{}' is not 1..3600", value));
      timeoutSeconds = number;
    } else if (arg == "--address") {
      try {
        address = parseHostPort(value, "--address");
      } catch (const Error& e) {
        return usage(e.detail());
      }
    } else {
      return usage(fmt::format("unknown option '{}'", arg));
    }
  }

  if (address) {
    // Fail fast and clearly on an address that does not answer, before starting thousands of
    // clients that would each wait the whole timeout.
    try {
      TcpStore probe(address->host, address->port);
      probe.check({"store-bench/probe"}, std::chrono::seconds(5));
    } catch (const Error& e) {
      fmt::print(stderr, "banyan-store-bench: no store server answers at {}: {}\n",
                 hostPortText(address->host, address->port), e.what());
      return 2;
    }
  }

  fmt::print(
      "| clients | connect (ms) | creation (ms) | requests/s | p50 (us) | p99 (us) | failed connections | failed "
      "requests | wrong values | server threads | server fds | server CPU (ms) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  bool clean = true;
  for (const int clients : counts) {
    if (!ensureDescriptors(clients)) {
      fmt::print(stderr, "banyan-store-bench: {} clients need {} descriptors: raise RLIMIT_NOFILE (ulimit -n)\n",
                 clients, clients + 64);
      return 2;
    }
    tools::StoreLoadOptions options;
    options.clients = clients;
    options.pairs = pairs;
    options.timeout = std::chrono::seconds(timeoutSeconds);
    options.keyPrefix = fmt::format("store-bench/{}/{}/", ::getpid(), clients);
    tools::StoreLoadResult result;
    std::string threads = "-", fds = "-", cpu = "-";
    try {
      if (address) {
        options.host = address->host;
        options.port = address->port;
        result = tools::runStoreLoad(options);
      } else {
        ServerProcess server;
        options.port = server.port();
        const double cpuAtStart = cpuMs(server.pid());
        PeakSampler sampler(server.pid());
        result = tools::runStoreLoad(options);
        sampler.finish();
        cpu = fmt::format("{:.0f}", cpuMs(server.pid()) - cpuAtStart);
        threads = std::to_string(sampler.threads());
        fds = std::to_string(sampler.fds());
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "banyan-store-bench: {} clients: {}\n", clients, e.what());
      return 1;
    }
    fmt::print("| {} | {:.1f} | {:.1f} | {:.0f} | {:.0f} | {:.0f} | {} | {} | {} | {} | {} | {} |\n", clients,
               result.connectMs, result.creationMs, result.requestsPerSecond, result.p50Us, result.p99Us,
               result.failedConnections, result.failedRequests, result.wrongValues, threads, fds, cpu);
    std::fflush(stdout);
    if (!result.firstError.empty()) {
      fmt::print(stderr, "banyan-store-bench: {} clients: first failure: {}\n", clients, result.firstError);
      clean = false;
    }
  }
  return clean ? 0 : 1;
}
