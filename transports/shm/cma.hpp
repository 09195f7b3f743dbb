#pragma once
// Cross-memory attach: copies straight from another process's memory into ours with
// process_vm_readv, one copy instead of two through a shared ring. The kernel allows it for a
// process of the same user unless a security module (Yama ptrace_scope >= 1 without
// PR_SET_PTRACER, seccomp in some containers) forbids it, so it is probed per peer at start.

#include "common/status.hpp"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace banyan::transport::shm {

// Copies `bytes` from address `remote` in process `pid` to `local`. Fails with a Remote error
// when the process has exited, otherwise with the errno text.
Status crossMemoryRead(pid_t pid, void* local, std::uint64_t remote, std::size_t bytes);

// True if this process can read 8 bytes at `remote` in `pid` and finds `expected` there.
bool crossMemoryProbe(pid_t pid, std::uint64_t remote, std::uint64_t expected);

// Lets processes other than our ancestors read us where Yama restricts ptrace to ancestors
// (ptrace_scope = 1): PR_SET_PTRACER_ANY, process-wide, so called only when BANYAN_SHM_CMA_BYTES
// is not 0; a no-op elsewhere. Called once before probing.
void allowCrossMemoryReaders();

}  // namespace banyan::transport::shm
