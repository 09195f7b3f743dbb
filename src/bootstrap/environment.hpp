#pragma once
// Reads who-is-where from the environment a launcher left: banyan's own variables first
// (BANYAN_RANK, BANYAN_SIZE, BANYAN_STORE_ADDR=host:port, set by the local launcher), then the
// torchrun convention (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), where rank 0 serves the
// store on MASTER_ADDR:MASTER_PORT. (mpirun is handled by banyan-mpi, which needs MPI itself.)

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
  std::string source;            // "BANYAN_*" or "torchrun", for messages
};

// std::nullopt when neither set of variables is present. Throws banyan::Error(InvalidUsage)
// naming the variable when one is present but malformed or inconsistent (rank >= size,
// bad port, half of a set missing).
std::optional<JobEnvironment> jobFromEnvironment();

// Parses "host:port" (IPv4, host name, or [IPv6]:port); throws InvalidUsage naming `what`.
std::pair<std::string, std::uint16_t> parseHostPort(const std::string& text, const char* what);

}  // namespace banyan::bootstrap
