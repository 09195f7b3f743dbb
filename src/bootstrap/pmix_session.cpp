#include "bootstrap/pmix_session.hpp"

#include "common/log.hpp"
#include "common/process_state.hpp"
#include "common/status.hpp"

#include <fmt/format.h>

#ifdef BANYAN_HAVE_PMIX
#include <dlfcn.h>
#include <pmix.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <mutex>
#include <vector>

extern char** environ;
#endif

namespace banyan::bootstrap {

#ifndef BANYAN_HAVE_PMIX

struct PmixSession::Api {};

std::shared_ptr<PmixSession> PmixSession::open(std::chrono::milliseconds) {
  fail(ErrorCode::NotSupported,
       "PMIX_RANK and PMIX_NAMESPACE are set (a PMIx launcher such as mpirun or srun --mpi=pmix), but this "
       "build of banyan has no PMIx support (libpmix-dev was not found when it was built); unset them or "
       "rebuild with libpmix-dev");
}
PmixSession::~PmixSession() = default;
std::uint64_t PmixSession::jobSize() { return 0; }
std::uint64_t PmixSession::localRank() { return 0; }
std::uint64_t PmixSession::localSize() { return 0; }
void PmixSession::put(const char*, const std::string&) {}
void PmixSession::commit() {}
void PmixSession::fence() {}
std::string PmixSession::getString(int, const char*) { return {}; }

#else

// The few PMIx client calls banyan makes, resolved from libpmix at run time.
struct PmixSession::Api {
  decltype(&PMIx_Init) init = nullptr;
  decltype(&PMIx_Finalize) finalize = nullptr;
  decltype(&PMIx_Get) get = nullptr;
  decltype(&PMIx_Put) put = nullptr;
  decltype(&PMIx_Commit) commit = nullptr;
  decltype(&PMIx_Fence) fence = nullptr;
  decltype(&PMIx_Error_string) errorString = nullptr;
  decltype(&PMIx_Value_destruct) valueDestruct = nullptr;
};

namespace {

const log::Where kWhere{log::Subsystem::Bootstrap, -1};

std::vector<std::string> environmentNow() {
  std::vector<std::string> all;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) all.emplace_back(*e);
  std::sort(all.begin(), all.end());
  return all;
}

// Puts the environment back as it was (PMIx_Init sets PMIX_MCA_psec, read only during init:
// docs/launchers.md) and returns what it undid.
std::vector<std::string> restoreEnvironment(const std::vector<std::string>& before) {
  const auto after = environmentNow();
  std::vector<std::string> added;
  std::vector<std::string> lost;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(added));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(lost));
  for (const auto& entry : added) ::unsetenv(entry.substr(0, entry.find('=')).c_str());
  for (const auto& entry : lost) {
    const auto equals = entry.find('=');
    ::setenv(entry.substr(0, equals).c_str(), entry.substr(equals + 1).c_str(), 1);
  }
  added.insert(added.end(), lost.begin(), lost.end());
  return added;
}

// Runs `body` under a ProcessStateGuard (signal dispositions, affinity) and puts back the
// environment too: banyan leaves the host process as it found it. Signals or affinity changed
// would be a surprise (WARN); the environment change is known and said at INFO.
void guarded(const char* what, const std::function<void()>& body) {
  common::ProcessStateGuard guard;
  const auto environmentBefore = environmentNow();
  const auto restore = [&] {
    const std::vector<std::string> undone = guard.restore();
    if (!undone.empty()) {
      log::warn(kWhere, "PMIx: {} changed process-wide state; restored: {}", what, fmt::join(undone, ", "));
    }
    const auto changed = restoreEnvironment(environmentBefore);
    if (!changed.empty()) {
      log::info(kWhere, "PMIx: {} changed the environment; put back: {}", what, fmt::join(changed, ", "));
    }
  };
  try {
    body();
  } catch (...) {
    restore();
    throw;
  }
  restore();
}

template <typename F>
void resolve(void* handle, const char* name, F& out, const std::string& path) {
  out = reinterpret_cast<F>(::dlsym(handle, name));
  if (out == nullptr) fail(ErrorCode::NotSupported, "PMIx: {} has no {} (too old a libpmix?)", path, name);
}

// Loads libpmix once per process (never unloaded: its progress thread may outlive a session).
const PmixSession::Api* loadApi(const PmixSession::Api*& cached) {
  if (cached != nullptr) return cached;
  const std::vector<std::string> candidates = {std::string(BANYAN_PMIX_LIBDIR) + "/libpmix.so.2", "libpmix.so.2",
                                               "libpmix.so"};
  void* handle = nullptr;
  std::string path;
  std::string errors;
  guarded("loading libpmix", [&] {
    for (const auto& candidate : candidates) {
      handle = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle != nullptr) {
        path = candidate;
        return;
      }
      const char* why = ::dlerror();
      errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", candidate, why ? why : "?");
    }
  });
  if (handle == nullptr) {
    fail(ErrorCode::NotSupported, "PMIX_RANK is set but libpmix cannot be loaded (install libpmix2): {}", errors);
  }
  static PmixSession::Api api;
  resolve(handle, "PMIx_Init", api.init, path);
  resolve(handle, "PMIx_Finalize", api.finalize, path);
  resolve(handle, "PMIx_Get", api.get, path);
  resolve(handle, "PMIx_Put", api.put, path);
  resolve(handle, "PMIx_Commit", api.commit, path);
  resolve(handle, "PMIx_Fence", api.fence, path);
  resolve(handle, "PMIx_Error_string", api.errorString, path);
  resolve(handle, "PMIx_Value_destruct", api.valueDestruct, path);
  cached = &api;
  return cached;
}

struct Shared {
  std::mutex mutex;
  const PmixSession::Api* api = nullptr;
  std::weak_ptr<PmixSession> session;
};
Shared& shared() {
  static Shared instance;
  return instance;
}

void setKey(pmix_info_t& info, const char* key) {
  std::memset(&info, 0, sizeof info);
  std::strncpy(info.key, key, PMIX_MAX_KEYLEN);
}

// The timeout attribute PMIx_Fence and PMIx_Get take, in whole seconds (at least 1).
pmix_info_t timeoutInfo(std::chrono::milliseconds timeout) {
  pmix_info_t info;
  setKey(info, PMIX_TIMEOUT);
  info.value.type = PMIX_INT;
  info.value.data.integer = static_cast<int>(std::max<long long>(1, (timeout.count() + 999) / 1000));
  return info;
}

std::uint64_t numberOf(const pmix_value_t& value, const char* key) {
  switch (value.type) {
    case PMIX_UINT32:
      return value.data.uint32;
    case PMIX_UINT16:
      return value.data.uint16;
    case PMIX_UINT64:
      return value.data.uint64;
    case PMIX_UINT:
      return value.data.uint;
    case PMIX_SIZE:
      return value.data.size;
    case PMIX_INT:
      return value.data.integer < 0 ? 0 : static_cast<std::uint64_t>(value.data.integer);
    case PMIX_INT32:
      return value.data.int32 < 0 ? 0 : static_cast<std::uint64_t>(value.data.int32);
    default:
      fail(ErrorCode::Internal, "PMIx: {} has type {}, not a number", key, static_cast<int>(value.type));
  }
}

}  // namespace

namespace {

void check(const PmixSession::Api& api, pmix_status_t rc, const std::string& call) {
  if (rc == PMIX_SUCCESS) return;
  const ErrorCode code = rc == PMIX_ERR_TIMEOUT ? ErrorCode::Timeout : ErrorCode::System;
  fail(code, "PMIx: {} failed: {} ({})", call, api.errorString(rc), static_cast<int>(rc));
}

pmix_proc_t procOf(const std::string& nameSpace, pmix_rank_t rank) {
  pmix_proc_t proc;
  std::memset(&proc, 0, sizeof proc);
  std::strncpy(proc.nspace, nameSpace.c_str(), PMIX_MAX_NSLEN);
  proc.rank = rank;
  return proc;
}

// PMIx_Get; the value is handed to `use` and freed afterwards.
void getValue(const PmixSession::Api& api, const pmix_proc_t& proc, const char* key, std::chrono::milliseconds timeout,
              const std::function<void(const pmix_value_t&)>& use) {
  pmix_info_t info = timeoutInfo(timeout);
  pmix_value_t* value = nullptr;
  check(api, api.get(&proc, key, &info, 1, &value), fmt::format("PMIx_Get({}, rank {})", key, proc.rank));
  if (value == nullptr) fail(ErrorCode::Internal, "PMIx: PMIx_Get({}) succeeded without a value", key);
  try {
    use(*value);
  } catch (...) {
    api.valueDestruct(value);
    std::free(value);
    throw;
  }
  api.valueDestruct(value);
  std::free(value);
}

}  // namespace

std::shared_ptr<PmixSession> PmixSession::open(std::chrono::milliseconds timeout) {
  Shared& state = shared();
  std::lock_guard lock(state.mutex);
  if (auto existing = state.session.lock()) return existing;
  const Api* api = loadApi(state.api);
  pmix_proc_t self;
  std::memset(&self, 0, sizeof self);
  pmix_status_t rc = PMIX_SUCCESS;
  guarded("PMIx_Init", [&] { rc = api->init(&self, nullptr, 0); });
  if (rc != PMIX_SUCCESS) {
    fail(ErrorCode::System,
         "PMIx: PMIx_Init failed: {} ({}); PMIX_RANK is set, but the launcher's PMIx server cannot be reached "
         "(has it exited, or is it of a PMIx version this libpmix cannot talk to?)",
         api->errorString(rc), static_cast<int>(rc));
  }
  std::shared_ptr<PmixSession> session(new PmixSession());
  session->api_ = api;
  session->rank_ = static_cast<int>(self.rank);
  session->nameSpace_ = self.nspace;
  session->timeout_ = timeout;
  state.session = session;
  return session;
}

PmixSession::~PmixSession() {
  std::lock_guard lock(shared().mutex);
  pmix_status_t rc = PMIX_SUCCESS;
  guarded("PMIx_Finalize", [&] { rc = api_->finalize(nullptr, 0); });
  if (rc != PMIX_SUCCESS) {
    log::warn(kWhere, "PMIx: PMIx_Finalize failed: {}", api_->errorString(rc));
  } else {
    log::info(kWhere, "PMIx: PMIx_Finalize done (namespace {}, rank {})", nameSpace_, rank_);
  }
}

std::uint64_t PmixSession::getNumber(bool wholeJob, const char* key) {
  std::uint64_t number = 0;
  const auto proc = procOf(nameSpace_, wholeJob ? PMIX_RANK_WILDCARD : static_cast<pmix_rank_t>(rank_));
  getValue(*api_, proc, key, timeout_, [&](const pmix_value_t& value) { number = numberOf(value, key); });
  return number;
}

std::uint64_t PmixSession::jobSize() { return getNumber(true, PMIX_JOB_SIZE); }
std::uint64_t PmixSession::localRank() { return getNumber(false, PMIX_LOCAL_RANK); }
std::uint64_t PmixSession::localSize() { return getNumber(true, PMIX_LOCAL_SIZE); }

void PmixSession::put(const char* key, const std::string& text) {
  pmix_value_t value;
  std::memset(&value, 0, sizeof value);
  value.type = PMIX_STRING;
  value.data.string = const_cast<char*>(text.c_str());  // PMIx_Put copies it
  check(*api_, api_->put(PMIX_GLOBAL, key, &value), fmt::format("PMIx_Put({})", key));
}

void PmixSession::commit() { check(*api_, api_->commit(), "PMIx_Commit"); }

void PmixSession::fence() {
  pmix_info_t info[2];
  setKey(info[0], PMIX_COLLECT_DATA);
  info[0].value.type = PMIX_BOOL;
  info[0].value.data.flag = true;
  info[1] = timeoutInfo(timeout_);
  const auto all = procOf(nameSpace_, PMIX_RANK_WILDCARD);
  check(*api_, api_->fence(&all, 1, info, 2),
        fmt::format("PMIx_Fence(namespace {}, timeout {} ms)", nameSpace_, timeout_.count()));
}

std::string PmixSession::getString(int rank, const char* key) {
  std::string text;
  getValue(*api_, procOf(nameSpace_, static_cast<pmix_rank_t>(rank)), key, timeout_, [&](const pmix_value_t& value) {
    if (value.type != PMIX_STRING) fail(ErrorCode::Internal, "PMIx: {} of rank {} is not a string", key, rank);
    text = value.data.string != nullptr ? value.data.string : "";
  });
  return text;
}

#endif

}  // namespace banyan::bootstrap
