#pragma once
// Reads who-is-where from the environment a launcher left: banyan's own variables first
// (BANYAN_RANK, BANYAN_SIZE, BANYAN_STORE_ADDR=host:port, set by the local launcher), then the
// torchrun convention (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), where rank 0 serves the
// store on MASTER_ADDR:MASTER_PORT. A PMIx launcher (mpirun, srun --mpi=pmix) is read through
// PMIx (pmix_environment.hpp), a plain srun step through SLURM_* (slurm_environment.hpp); order
// and precedence in docs/launchers.md.

#include <banyan/store.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace banyan::bootstrap {

struct JobEnvironment {
  int rank = -1;
  int size = 0;
  std::shared_ptr<Store> store;  // keeps the server alive when this rank serves it
  std::string source;            // "BANYAN_*", "torchrun", "PMIx" or "SLURM_*", for messages
  std::string detail;            // more of where it came from ("namespace ..., local rank ..."), or ""
  int localRank = -1;            // rank among the job's processes on this host, when the launcher says
  int localSize = 0;             // the job's processes on this host, when the launcher says
};

// std::nullopt when neither set of variables is present. Throws banyan::Error(InvalidUsage)
// naming the variable when one is present but malformed or inconsistent (rank >= size,
// bad port, half of a set missing).
std::optional<JobEnvironment> jobFromEnvironment();

// A whole-string decimal integer in [min, max], or InvalidUsage naming the variable `name`.
long long parseInteger(const char* name, const std::string& text, long long min, long long max);

// True when `host` names an address of this machine: one we can bind a socket to.
bool isLocalAddress(const std::string& host);

// Parses "host:port" (IPv4, host name, or [IPv6]:port); throws InvalidUsage naming `what`.
std::pair<std::string, std::uint16_t> parseHostPort(const std::string& text, const char* what);

}  // namespace banyan::bootstrap
