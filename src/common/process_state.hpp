#pragma once
// Process-wide state that banyan does not own (docs/architecture.md, "Process-wide state"):
// a snapshot of every signal disposition and the CPU affinity mask, taken before banyan runs
// third-party code that may change them (loading libfabric and its providers, whose load-time
// constructors install fatal-signal handlers: docs/ofi.md, "Loading the module"), and put back
// afterwards.
//
// restore() sets back exactly what differs from the snapshot and returns what it undid, for
// one WARN line; what did not change is never written, so a disposition another thread
// changes meanwhile on purpose is overwritten only if the guarded code changed it too.

#include <sched.h>
#include <signal.h>

#include <string>
#include <vector>

namespace banyan::common {

class ProcessStateGuard {
 public:
  ProcessStateGuard();  // the snapshot
  ProcessStateGuard(const ProcessStateGuard&) = delete;
  ProcessStateGuard& operator=(const ProcessStateGuard&) = delete;

  // Puts back every signal disposition and the affinity mask that differ from the snapshot;
  // returns what it undid ("handler of SIGSEGV", "CPU affinity"), empty when nothing changed.
  std::vector<std::string> restore();

 private:
  struct Disposition {
    bool known = false;  // sigaction could read it (glibc refuses its two internal signals)
    struct sigaction action {};
  };
  std::vector<Disposition> signals_;  // index: signal number, 1 .. NSIG-1
  bool affinityKnown_ = false;
  cpu_set_t affinity_{};
};

// "SIGSEGV" for 11, "SIGRTMIN+3" for real-time signals, "signal 99" otherwise.
std::string signalName(int signal);

}  // namespace banyan::common
