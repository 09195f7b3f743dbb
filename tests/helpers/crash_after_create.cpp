// A rank of tests/multiproc/test_process_state.cpp: a program that links libbanyan (and only
// libbanyan: never the ofi module or libfabric), creates a communicator from the environment
// (BANYAN_TRANSPORT and BANYAN_OFI_PROVIDER choose tcp, shm or ofi), runs one allreduce, and
// compares every signal disposition, its CPU affinity mask and its environment with what they were
// before (under mpirun this covers PMIx_Init: docs/launchers.md). Then
// it writes the CLOCK_MONOTONIC time and its pid into <dir>/crash.<rank> and dereferences a null pointer:
// it must die by SIGSEGV at once (docs/architecture.md, "Process-wide state").
//
//   crash_after_create <dir>     (dir: the working directory it crashes in; no .btr may appear)
// Exit status 3: a disposition, the affinity or the environment changed (named on stderr); 2: bad usage.

#include <banyan/communicator.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>
#include <string>
#include <vector>

namespace {

struct Snapshot {
  std::vector<std::string> signals;  // per signal: "handler flags mask", or "" if unreadable
  cpu_set_t affinity{};
  std::vector<std::string> environment;  // "NAME=value", sorted
};

std::string describe(const struct sigaction& a) {
  std::string mask;
  for (int s = 1; s < NSIG; ++s) mask += sigismember(&a.sa_mask, s) ? '1' : '0';
  const void* handler =
      (a.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(a.sa_sigaction) : reinterpret_cast<void*>(a.sa_handler);
  // SA_RESTORER is the C library's bookkeeping, added to every disposition it sets: setting
  // back SIG_DFL leaves it where the kernel's initial SIG_DFL had none, the same disposition.
  constexpr unsigned kRestorer = 0x04000000;
  char text[64];
  std::snprintf(text, sizeof text, "%p %#x ", handler, static_cast<unsigned>(a.sa_flags) & ~kRestorer);
  return text + mask;
}

Snapshot take() {
  Snapshot s;
  s.signals.resize(NSIG);
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction a {};
    if (::sigaction(sig, nullptr, &a) == 0) s.signals[static_cast<std::size_t>(sig)] = describe(a);
  }
  ::sched_getaffinity(0, sizeof s.affinity, &s.affinity);
  for (char** e = environ; *e != nullptr; ++e) s.environment.emplace_back(*e);
  std::sort(s.environment.begin(), s.environment.end());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || ::chdir(argv[1]) != 0) {
    std::fprintf(stderr, "usage: crash_after_create <existing dir>\n");
    return 2;
  }
  // No core file: it would only slow the death the test times.
  const rlimit noCore{0, 0};
  ::setrlimit(RLIMIT_CORE, &noCore);

  const Snapshot before = take();
  int rank = -1;
  {
    auto comm = banyan::Communicator::fromEnvironment();
    rank = comm.rank();
    float value = 1.0f;
    comm.allreduce(&value, 1, banyan::DataType::f32, banyan::ReduceOp::sum);
    if (value != static_cast<float>(comm.size())) {
      std::fprintf(stderr, "rank %d: allreduce gave %g\n", rank, static_cast<double>(value));
      return 1;
    }
    const Snapshot after = take();
    bool same = true;
    for (int sig = 1; sig < NSIG; ++sig) {
      const auto& b = before.signals[static_cast<std::size_t>(sig)];
      const auto& a = after.signals[static_cast<std::size_t>(sig)];
      if (a != b) {
        std::fprintf(stderr, "rank %d: the disposition of signal %d (%s) changed: %s -> %s\n", rank, sig,
                     strsignal(sig), b.c_str(), a.c_str());
        same = false;
      }
    }
    if (!CPU_EQUAL(&before.affinity, &after.affinity)) {
      std::fprintf(stderr, "rank %d: the CPU affinity mask changed\n", rank);
      same = false;
    }
    if (before.environment != after.environment) {
      std::vector<std::string> changed;
      std::set_symmetric_difference(before.environment.begin(), before.environment.end(), after.environment.begin(),
                                    after.environment.end(), std::back_inserter(changed));
      for (const auto& entry : changed)
        std::fprintf(stderr, "rank %d: the environment changed: %s\n", rank, entry.c_str());
      same = false;
    }
    if (!same) return 3;
    // The communicator stays open: a crash in the middle of a job is the case to prove.
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const std::string file = "crash." + std::to_string(rank);
    if (FILE* f = std::fopen(file.c_str(), "w")) {
      std::fprintf(f, "%lld %ld\n", static_cast<long long>(now.tv_sec) * 1000000000LL + now.tv_nsec,
                   static_cast<long>(::getpid()));
      std::fclose(f);
    }
    volatile int* null = nullptr;
    *null = 1;
    comm.barrier();  // not reached
  }
  return 0;
}
