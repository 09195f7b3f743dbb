// gloo-init: Gloo's side of the init curve (bench/scale.sh, issue 19). Forks N ranks; each makes
// a Gloo context over TCP on 127.0.0.1, connected as a full mesh through Gloo's FileStore (the
// rendezvous a new Gloo user reaches for first), times that, then times its first allreduce of
// one f64 and checks the sum. Built only when Debian's libgloo-dev is installed.
//
//   gloo-init -n RANKS [--dir DIRECTORY]
//
// Prints one line of key=value pairs, as banyan-thread-ranks does: the slowest rank's creation
// and first allreduce, and per rank the descriptors and peak resident memory after the
// allreduce. Exits 1 when a rank failed or summed wrong.

#include <gloo/allreduce.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

long openDescriptors() {
  long count = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.';
    ::closedir(dir);
  }
  return count - 1;
}

long peakKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// One rank: "<create s> <allreduce s> <fds> <peak KiB> <right>" on `out`, or "error <what>".
void rank(int rank, int size, const std::string& dir, int out) {
  std::string line;
  try {
    const long fdsBefore = openDescriptors();
    const auto start = Clock::now();
    gloo::transport::tcp::attr attr("127.0.0.1");
    auto device = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(dir);
    auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
    context->setTimeout(std::chrono::seconds(300));
    context->connectFullMesh(store, device);
    const auto created = Clock::now();
    double value = rank + 1.0;
    gloo::AllreduceOptions options(context);
    options.setInput(&value, 1);
    options.setOutput(&value, 1);
    options.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<double>));
    gloo::allreduce(options);
    const auto reduced = Clock::now();
    const bool right = value == static_cast<double>(size) * (size + 1) / 2;
    line = std::to_string(std::chrono::duration<double>(created - start).count()) + " " +
           std::to_string(std::chrono::duration<double>(reduced - created).count()) + " " +
           std::to_string(openDescriptors() - fdsBefore) + " " + std::to_string(peakKib()) + " " + (right ? "1" : "0") +
           "\n";
  } catch (const std::exception& e) {
    line = std::string("error rank ") + std::to_string(rank) + ": " + e.what() + "\n";
  }
  [[maybe_unused]] const auto wrote = ::write(out, line.data(), line.size());
}

}  // namespace

int main(int argc, char** argv) {
  int size = 0;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "-n") == 0) size = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
  }
  if (size < 1) {
    std::fprintf(stderr, "usage: gloo-init -n RANKS [--dir DIRECTORY]  (RANKS at least 1)\n");
    return 2;
  }
  if (dir.empty()) {
    char pattern[] = "/tmp/gloo-init-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      std::perror("gloo-init: mkdtemp");
      return 1;
    }
    dir = pattern;
  }
  std::vector<int> pipes;
  std::vector<pid_t> pids;
  for (int r = 0; r < size; ++r) {
    int ends[2];
    if (::pipe(ends) != 0) return std::perror("gloo-init: pipe"), 1;
    const pid_t pid = ::fork();
    if (pid < 0) return std::perror("gloo-init: fork"), 1;
    if (pid == 0) {
      ::close(ends[0]);
      rank(r, size, dir, ends[1]);
      ::_exit(0);
    }
    ::close(ends[1]);
    pipes.push_back(ends[0]);
    pids.push_back(pid);
  }
  double create = 0, first = 0, fds = 0, peak = 0;
  int wrong = 0, failed = 0;
  for (int r = 0; r < size; ++r) {
    std::string text;
    char buffer[512];
    ssize_t got;
    while ((got = ::read(pipes[r], buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(got));
    ::close(pipes[r]);
    ::waitpid(pids[r], nullptr, 0);
    double c = 0, a = 0;
    long f = 0, p = 0;
    int right = 0;
    if (std::sscanf(text.c_str(), "%lf %lf %ld %ld %d", &c, &a, &f, &p, &right) != 5) {
      ++failed;
      std::fprintf(stderr, "%s", text.empty() ? "a rank ended without a report\n" : text.c_str());
      continue;
    }
    create = std::max(create, c);
    first = std::max(first, a);
    fds += static_cast<double>(f) / size;
    peak += static_cast<double>(p) / size;
    wrong += right ? 0 : 1;
  }
  std::printf(
      "ranks=%d create_s=%.3f first_allreduce_s=%.3f fds_per_rank=%.1f peak_kib_per_rank=%.0f wrong=%d failed=%d\n",
      size, create, first, fds, peak, wrong, failed);
  std::string cleanup = "rm -rf '" + dir + "'";
  [[maybe_unused]] const int removed = std::system(cleanup.c_str());
  return wrong == 0 && failed == 0 ? 0 : 1;
}
