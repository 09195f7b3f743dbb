#include "transports/shm/cma.hpp"

#include <sys/prctl.h>
#include <sys/uio.h>

#include <cerrno>
#include <fstream>

namespace banyan::transport::shm {

Status crossMemoryRead(pid_t pid, void* local, std::uint64_t remote, std::size_t bytes) {
  auto* into = static_cast<char*>(local);
  std::size_t done = 0;
  // The kernel may copy less than asked (it works page range by page range); go on from there.
  while (done < bytes) {
    iovec localVec{into + done, bytes - done};
    iovec remoteVec{reinterpret_cast<void*>(remote + done), bytes - done};
    const ssize_t got = ::process_vm_readv(pid, &localVec, 1, &remoteVec, 1, 0);
    if (got < 0 && errno == ESRCH) {
      // The process has exited (a zombie has no memory left to read): the peer is lost.
      return Status::make(ErrorCode::Remote, "process {} has exited", pid);
    }
    if (got <= 0) {
      return Status::make(ErrorCode::System, "process_vm_readv of {} bytes from pid {} failed: {}", bytes - done, pid,
                          got == 0 ? "no progress" : errnoText(errno));
    }
    done += static_cast<std::size_t>(got);
  }
  return Status::ok();
}

bool crossMemoryProbe(pid_t pid, std::uint64_t remote, std::uint64_t expected) {
  std::uint64_t value = 0;
  return crossMemoryRead(pid, &value, remote, sizeof value).isOk() && value == expected;
}

void allowCrossMemoryReaders() {
#ifdef PR_SET_PTRACER
  // Only Yama's scope 1 (ancestors only) needs it: 0 lets any process of the user read us
  // already, and 2 and 3 ignore the setting. Elsewhere the process's setting is left alone.
  std::ifstream scope("/proc/sys/kernel/yama/ptrace_scope");
  int value = -1;
  if (scope >> value && value == 1) (void)::prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
#endif
}

}  // namespace banyan::transport::shm
