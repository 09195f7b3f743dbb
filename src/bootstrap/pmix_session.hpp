#pragma once
// One process's connection to its PMIx server, opened by the PMIx bootstrap
// (pmix_environment.hpp). libpmix is dlopen'ed on first use (never linked into libbanyan), and
// PMIx_Init and PMIx_Finalize run under a ProcessStateGuard: banyan leaves the host process's
// signal handlers and CPU affinity as it found them, and says at WARN if PMIx changed any (or
// the environment). One session per process, shared: PMIx_Finalize runs when the last holder
// lets go.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace banyan::bootstrap {

class PmixSession {
 public:
  // PMIx_Init (or the open session of this process). Throws NotSupported without PMIx in this
  // build or when libpmix cannot be loaded, System when PMIx_Init fails.
  static std::shared_ptr<PmixSession> open(std::chrono::milliseconds timeout);
  ~PmixSession();  // PMIx_Finalize
  PmixSession(const PmixSession&) = delete;
  PmixSession& operator=(const PmixSession&) = delete;

  int rank() const { return rank_; }
  const std::string& nameSpace() const { return nameSpace_; }
  std::uint64_t jobSize();    // PMIX_JOB_SIZE
  std::uint64_t localRank();  // PMIX_LOCAL_RANK
  std::uint64_t localSize();  // PMIX_LOCAL_SIZE

  // PMIx_Put (global scope) of a string; published by commit(), seen by the others after fence().
  void put(const char* key, const std::string& value);
  void commit();
  // PMIx_Fence over the whole namespace, collecting the data put so far; Timeout after the
  // session's deadline.
  void fence();
  // PMIx_Get of a string `rank` put.
  std::string getString(int rank, const char* key);

  struct Api;  // the libpmix calls, resolved at run time (pmix_session.cpp)

 private:
  PmixSession() = default;
  std::uint64_t getNumber(bool wholeJob, const char* key);
  const Api* api_ = nullptr;
  int rank_ = -1;
  std::string nameSpace_;
  std::chrono::milliseconds timeout_{0};
};

}  // namespace banyan::bootstrap
