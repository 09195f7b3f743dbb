#pragma once
// A job started by a PMIx server (Open MPI's mpirun, srun --mpi=pmix): rank, size and the local
// layout come from PMIx, and so does the store's address: rank 0 starts banyan's TCP store
// server and publishes "host:port" (and the job key) with PMIx_Put + Commit + Fence; the others
// read it with PMIx_Get. No MASTER_ADDR, no MPI. The store itself still lives in rank 0
// (docs/launchers.md, "PMIx").
//
// libpmix is loaded with dlopen on first use, never linked: a process that never meets a PMIx
// server never loads it, and libbanyan runs where libpmix is not installed.

#include "bootstrap/environment.hpp"

#include <optional>

namespace banyan::bootstrap {

// True when the launcher left a PMIx server for this process (PMIX_RANK and PMIX_NAMESPACE).
bool pmixPresent();

// Whether this build can bootstrap through PMIx (libpmix-dev was found when it was built).
bool pmixSupported();

// std::nullopt when !pmixPresent(). Throws banyan::Error: NotSupported when this build has no
// PMIx or libpmix cannot be loaded, System when a PMIx call fails (naming it and PMIx's error),
// Timeout when the fence does not complete in BANYAN_TIMEOUT.
std::optional<JobEnvironment> jobFromPmix();

}  // namespace banyan::bootstrap
