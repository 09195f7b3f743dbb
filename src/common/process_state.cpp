#include "common/process_state.hpp"

#include <fmt/format.h>
#include <string.h>

#include <cstring>

namespace banyan::common {
namespace {

bool sameMask(const sigset_t& a, const sigset_t& b) {
  for (int s = 1; s < NSIG; ++s) {
    if (sigismember(&a, s) != sigismember(&b, s)) return false;
  }
  return true;
}

bool sameAction(const struct sigaction& a, const struct sigaction& b) {
  // sa_handler and sa_sigaction share storage; SA_SIGINFO says which one is meant.
  const bool info = (a.sa_flags & SA_SIGINFO) != 0;
  if (info != ((b.sa_flags & SA_SIGINFO) != 0)) return false;
  if (info ? a.sa_sigaction != b.sa_sigaction : a.sa_handler != b.sa_handler) return false;
  // SA_RESTORER is the C library's own bookkeeping, set on every handler it installs.
  constexpr int kIgnored =
#ifdef SA_RESTORER
      SA_RESTORER;
#else
      0;
#endif
  return (a.sa_flags & ~kIgnored) == (b.sa_flags & ~kIgnored) && sameMask(a.sa_mask, b.sa_mask);
}

}  // namespace

std::string signalName(int signal) {
  if (signal >= SIGRTMIN && signal <= SIGRTMAX) {
    return signal == SIGRTMIN ? std::string("SIGRTMIN") : fmt::format("SIGRTMIN+{}", signal - SIGRTMIN);
  }
  if (const char* abbreviation = ::sigabbrev_np(signal)) return fmt::format("SIG{}", abbreviation);
  return fmt::format("signal {}", signal);
}

ProcessStateGuard::ProcessStateGuard() : signals_(NSIG) {
  for (int s = 1; s < NSIG; ++s) {
    Disposition& d = signals_[static_cast<std::size_t>(s)];
    d.known = ::sigaction(s, nullptr, &d.action) == 0;
  }
  affinityKnown_ = ::sched_getaffinity(0, sizeof affinity_, &affinity_) == 0;
}

std::vector<std::string> ProcessStateGuard::restore() {
  std::vector<std::string> undone;
  for (int s = 1; s < NSIG; ++s) {
    const Disposition& before = signals_[static_cast<std::size_t>(s)];
    struct sigaction now {};
    if (!before.known || ::sigaction(s, nullptr, &now) != 0 || sameAction(now, before.action)) continue;
    if (::sigaction(s, &before.action, nullptr) == 0) undone.push_back(fmt::format("handler of {}", signalName(s)));
  }
  cpu_set_t now;
  if (affinityKnown_ && ::sched_getaffinity(0, sizeof now, &now) == 0 && !CPU_EQUAL(&now, &affinity_)) {
    if (::sched_setaffinity(0, sizeof affinity_, &affinity_) == 0) undone.push_back("CPU affinity");
  }
  return undone;
}

}  // namespace banyan::common
