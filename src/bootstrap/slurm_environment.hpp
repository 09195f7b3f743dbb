#pragma once
// A task of an srun step without PMIx: identity from SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID;
// the store at BANYAN_STORE_ADDR, else MASTER_ADDR:MASTER_PORT, else on the first node of the
// step's node list at a port derived from the job and step ids (docs/launchers.md, "Slurm").
// Rank 0 serves the store unless BANYAN_STORE_ADDR names a store someone else serves; keys are
// prefixed with the job and step ids, so steps that share a store server stay apart.

#include "bootstrap/environment.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace banyan::bootstrap {

// What a task of an srun step reads, before any socket is opened.
struct SlurmStep {
  int rank = -1;
  int size = 0;
  int localRank = -1;
  std::vector<std::string> nodes;  // the step's node list, expanded, in Slurm's order
  std::string jobId;
  std::string stepId;
  std::string storeHost;
  std::uint16_t storePort = 0;
  bool rankZeroServes = true;  // false when BANYAN_STORE_ADDR names a store served elsewhere
  std::string storeFrom;       // which variables gave the address, for messages
};

// True inside an srun step: SLURM_PROCID and SLURM_STEP_ID (or SLURM_STEPID) are set. An sbatch
// script alone is no step (it has no SLURM_STEP_ID), and is not taken for rank 0 of one.
bool slurmStepPresent();

// Reads the step from SLURM_* (and the store variables). Throws InvalidUsage naming the variable
// that is missing or malformed.
SlurmStep readSlurmStep();

// Expands a Slurm host list: "node[01-03,7],login,rack[1-2]-n[1-2]" -> node01 node02 node03
// node7 login rack1-n1 rack1-n2 rack2-n1 rack2-n2 (zero padding kept, one list per bracket
// group). Throws InvalidUsage naming `what` for an unbalanced bracket, a reversed or malformed
// range, an empty name, or more than a million hosts.
std::vector<std::string> expandNodeList(const std::string& text, const char* what);

// The store port when neither MASTER_PORT nor BANYAN_STORE_ADDR gives one: 12000 + (job id * 16
// + step id) mod 20000, below Linux's ephemeral range, different for the steps of one job.
std::uint16_t derivedStorePort(const std::string& jobId, const std::string& stepId);

// std::nullopt outside an srun step; else the job, with its store (rank 0 starts the server).
std::optional<JobEnvironment> jobFromSlurm();

}  // namespace banyan::bootstrap
