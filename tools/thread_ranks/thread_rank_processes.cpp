// runThreadRanks (thread_ranks.hpp): the store served here, the ranks in this process or split
// over forked processes. The listening socket is bound before the first fork, so every share
// knows the port at birth; the server starts (its thread) only after the last fork.

#include "tools/thread_ranks/thread_ranks.hpp"

#include "common/status.hpp"

#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <sstream>

namespace banyan::tools {
namespace {

// Errors handed from a share to its parent at most, each cut to this length: a report must fit
// in a pipe's buffer (64 KiB), so a share never blocks writing it.
constexpr std::size_t kErrorsPerShare = 20;
constexpr std::size_t kErrorChars = 600;

std::pair<int, std::uint16_t> listenOnLoopback() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(fd, SOMAXCONN) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    fail(ErrorCode::System, "thread ranks: cannot listen on 127.0.0.1 for the store: {}", std::strerror(err));
  }
  return {fd, ntohs(address.sin_port)};
}

ThreadRankShare shareOf(const ThreadRankRun& run, int process, std::uint16_t port,
                        const std::vector<std::uint16_t>& rootPorts) {
  const int base = run.ranks / run.processes, extra = run.ranks % run.processes;
  const int first = process * base + std::min(process, extra);
  return {first, base + (process < extra ? 1 : 0), port, process, rootPorts};
}

// The roots beyond the first, listening before any fork (their servers start after the last).
struct ExtraRoots {
  std::vector<int> listening;
  std::vector<std::uint16_t> ports;
  explicit ExtraRoots(const ThreadRankRun& run) {
    for (int j = 1; j < run.roots; ++j) {
      auto [fd, port] = listenOnLoopback();
      listening.push_back(fd);
      ports.push_back(port);
    }
  }
  std::vector<std::unique_ptr<TcpStoreServer>> serve() const {
    std::vector<std::unique_ptr<TcpStoreServer>> servers;
    for (int fd : listening) servers.push_back(std::make_unique<TcpStoreServer>(fd));
    return servers;
  }
};

// Reads `fd` to its end or until `deadline`; false on the deadline.
bool readAll(int fd, std::string& text, std::chrono::steady_clock::time_point deadline) {
  char buffer[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, static_cast<int>(left.count())) <= 0) continue;
    const auto got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return true;
    text.append(buffer, static_cast<std::size_t>(got));
  }
}

// The shares' reports as one: times and per-rank figures the largest (times) or mean (usage).
ThreadRankReport combine(const ThreadRankRun& run, const std::vector<ThreadRankReport>& shares) {
  ThreadRankReport all;
  all.ranks = run.ranks;
  all.processes = run.processes;
  for (const auto& share : shares) {
    all.createSeconds = std::max(all.createSeconds, share.createSeconds);
    all.firstAllreduceSeconds = std::max(all.firstAllreduceSeconds, share.firstAllreduceSeconds);
    all.closeSeconds = std::max(all.closeSeconds, share.closeSeconds);
    all.closeOneMedianSeconds = std::max(all.closeOneMedianSeconds, share.closeOneMedianSeconds);
    all.closeOneMaxSeconds = std::max(all.closeOneMaxSeconds, share.closeOneMaxSeconds);
    all.storeRequestsMax = std::max(all.storeRequestsMax, share.storeRequestsMax);
    all.storeRequestsRankZero = std::max(all.storeRequestsRankZero, share.storeRequestsRankZero);
    all.fdsPerRank += share.fdsPerRank / static_cast<double>(shares.size());
    all.threadsPerRank += share.threadsPerRank / static_cast<double>(shares.size());
    all.peakKibPerRank += share.peakKibPerRank / static_cast<double>(shares.size());
    all.wrongResults += share.wrongResults;
    all.errors.insert(all.errors.end(), share.errors.begin(), share.errors.end());
  }
  return all;
}

ThreadRankReport runForked(const ThreadRankRun& run) {
  auto [listening, port] = listenOnLoopback();
  const ExtraRoots extra(run);
  struct Child {
    pid_t pid;
    int pipe;
  };
  std::vector<Child> children;
  for (int process = 0; process < run.processes; ++process) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) fail(ErrorCode::System, "thread ranks: pipe: {}", std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) fail(ErrorCode::System, "thread ranks: fork: {}", std::strerror(errno));
    if (pid == 0) {
      ::close(listening);
      for (int fd : extra.listening) ::close(fd);
      ::close(ends[0]);
      const std::string text = encodeReport(runShare(run, shareOf(run, process, port, extra.ports)));
      for (std::size_t at = 0; at < text.size();) {
        const auto wrote = ::write(ends[1], text.data() + at, text.size() - at);
        if (wrote <= 0) break;
        at += static_cast<std::size_t>(wrote);
      }
      ::_exit(0);
    }
    ::close(ends[1]);
    children.push_back({pid, ends[0]});
  }
  TcpStoreServer server(listening);
  const auto extraServers = extra.serve();
  // Each share ends within its barriers' and ranks' deadlines; this bounds a share that hangs.
  const auto deadline = std::chrono::steady_clock::now() + 4 * run.timeout + std::chrono::seconds(60);
  std::vector<ThreadRankReport> shares;
  std::vector<std::string> lost;
  for (const auto& child : children) {
    std::string text;
    if (!readAll(child.pipe, text, deadline)) {
      ::kill(child.pid, SIGKILL);
      lost.push_back(fmt::format("process {} (pid {}) did not end in time: killed", shares.size() + lost.size(),
                                 static_cast<long>(child.pid)));
    } else if (text.empty()) {
      lost.push_back(fmt::format("process {} (pid {}) ended without a report", shares.size() + lost.size(),
                                 static_cast<long>(child.pid)));
    } else {
      shares.push_back(decodeReport(text));
    }
    ::close(child.pipe);
    ::waitpid(child.pid, nullptr, 0);
  }
  auto report = combine(run, shares);
  report.errors.insert(report.errors.begin(), lost.begin(), lost.end());
  return report;
}

}  // namespace

std::string encodeReport(const ThreadRankReport& report) {
  std::string text =
      fmt::format("{} {} {} {} {} {} {} {} {} {} {} {} {}\n", report.ranks, report.createSeconds,
                  report.firstAllreduceSeconds, report.closeSeconds, report.closeOneMedianSeconds,
                  report.closeOneMaxSeconds, report.storeRequestsMax, report.storeRequestsRankZero, report.fdsPerRank,
                  report.threadsPerRank, report.peakKibPerRank, report.wrongResults, report.errors.size());
  for (std::size_t i = 0; i < report.errors.size() && i < kErrorsPerShare; ++i) {
    std::string error = report.errors[i].substr(0, kErrorChars);
    std::replace(error.begin(), error.end(), '\n', ' ');
    text += error + "\n";
  }
  return text;
}

ThreadRankReport decodeReport(const std::string& text) {
  ThreadRankReport report;
  std::istringstream in(text);
  std::size_t errors = 0;
  in >> report.ranks >> report.createSeconds >> report.firstAllreduceSeconds >> report.closeSeconds >>
      report.closeOneMedianSeconds >> report.closeOneMaxSeconds >> report.storeRequestsMax >>
      report.storeRequestsRankZero >> report.fdsPerRank >> report.threadsPerRank >> report.peakKibPerRank >>
      report.wrongResults >> errors;
  if (!in) {
    report.errors.push_back("a share's report could not be read: " + text.substr(0, kErrorChars));
    return report;
  }
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) report.errors.push_back(line);
  // Errors beyond those carried are counted, not lost.
  if (errors > report.errors.size()) {
    report.errors.push_back(fmt::format("... and {} more errors in that process", errors - report.errors.size()));
  }
  return report;
}

ThreadRankReport runThreadRanks(const ThreadRankRun& run) {
  if (run.ranks < 1) fail(ErrorCode::InvalidUsage, "thread ranks: {} ranks, at least 1 is needed", run.ranks);
  if (run.processes < 1 || run.processes > run.ranks) {
    fail(ErrorCode::InvalidUsage, "thread ranks: {} processes for {} ranks (1 to the ranks)", run.processes, run.ranks);
  }
  if (run.roots < 1 || run.roots > run.ranks) {
    fail(ErrorCode::InvalidUsage, "thread ranks: {} store roots for {} ranks (1 to the ranks)", run.roots, run.ranks);
  }
  if (run.processes > 1) return runForked(run);
  TcpStoreServer server("127.0.0.1", 0);
  const ExtraRoots extra(run);
  const auto extraServers = extra.serve();
  auto report = runShare(run, {0, run.ranks, server.port(), 0, extra.ports});
  report.ranks = run.ranks;
  return report;
}

}  // namespace banyan::tools
