#include "transports/ofi/ofi_loader.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <optional>

#include "common/log.hpp"
#include "common/process_state.hpp"
#include "common/status.hpp"

namespace banyan::transport::ofi {
namespace {

constexpr const char* kModuleFile = "libbanyan-ofi.so";

using Undone = std::vector<std::string>;

// Runs `body` under a ProcessStateGuard; `report` gets what the guard put back, also when
// `body` throws.
void guarded(const std::function<void()>& body, const std::function<void(const Undone&)>& report) {
  common::ProcessStateGuard guard;
  try {
    body();
  } catch (...) {
    report(guard.restore());
    throw;
  }
  report(guard.restore());
}

// One WARN line for what the module's load and libfabric's first use changed, naming the
// moment(s) that changed something: the two usually undo overlapping sets of handlers, and two
// lines per rank read as two problems.
void warnRestored(int rank, const Undone& atLoad, const Undone& atFirstUse) {
  const log::Where where{log::Subsystem::Transport, rank};
  if (atLoad.empty() && atFirstUse.empty()) return;
  if (atFirstUse.empty()) {
    log::warn(where, "ofi: loading the ofi module changed process-wide state; restored: {}", fmt::join(atLoad, ", "));
  } else if (atLoad.empty()) {
    log::warn(where, "ofi: libfabric's first use changed process-wide state; restored: {}",
              fmt::join(atFirstUse, ", "));
  } else {
    log::warn(where,
              "ofi: loading the ofi module and libfabric's first use changed process-wide state; restored: {} "
              "(at load); {} (at first use)",
              fmt::join(atLoad, ", "), fmt::join(atFirstUse, ", "));
  }
}

struct LoadState {
  std::mutex mutex;
  OfiModule* module = nullptr;
  std::optional<std::string> failure;  // why loading failed, kept for later calls
  // What the successful load put back, held for the first use's WARN line: ofi_kind.cpp loads
  // the module only to publish through it, and that publish is the first use.
  Undone undoneAtLoad;
};

LoadState& loadState() {
  static LoadState state;
  return state;
}

// dlopen + the entry point; "" on success (and `module` set), else why not.
std::string tryLoad(const std::string& path, OfiModule*& module) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return why != nullptr ? why : "dlopen failed";
  }
  using Entry = OfiModule* (*)(int, const char*);
  auto entry = reinterpret_cast<Entry>(::dlsym(handle, kOfiModuleEntry));
  if (entry == nullptr) return fmt::format("{}: no symbol {}", path, kOfiModuleEntry);
  module = entry(kModuleAbi, BANYAN_VERSION_STRING);
  if (module == nullptr) {
    return fmt::format("{}: built for another banyan (this libbanyan is {}, module ABI {})", path,
                       BANYAN_VERSION_STRING, kModuleAbi);
  }
  return {};
}

}  // namespace

std::vector<std::string> moduleCandidates(const config::Config& config) {
  if (!config.ofiModule.empty()) return {config.ofiModule};
  std::vector<std::string> paths;
  Dl_info self{};
  if (::dladdr(reinterpret_cast<const void*>(&moduleCandidates), &self) != 0 && self.dli_fname != nullptr) {
    const std::filesystem::path library(self.dli_fname);
    if (library.has_parent_path()) paths.push_back((library.parent_path() / kModuleFile).string());
  }
#ifdef BANYAN_OFI_BUILD_DIR
  const std::string built = (std::filesystem::path(BANYAN_OFI_BUILD_DIR) / kModuleFile).string();
  if (std::find(paths.begin(), paths.end(), built) == paths.end()) paths.push_back(built);
#endif
  return paths;
}

OfiModule& loadModule(const config::Config& config, int rank) {
  LoadState& state = loadState();
  std::lock_guard lock(state.mutex);
  if (state.module != nullptr) return *state.module;
  if (state.failure) fail(ErrorCode::NotSupported, "{}", *state.failure);
  std::vector<std::string> tried;
  for (const std::string& path : moduleCandidates(config)) {
    std::string why;
    guarded([&] { why = tryLoad(path, state.module); },
            [&](const Undone& undone) {
              if (state.module != nullptr) {
                state.undoneAtLoad = undone;
              } else {
                warnRestored(rank, undone, {});  // no first use follows a failed load
              }
            });
    if (state.module != nullptr) {
      log::info(log::Where{log::Subsystem::Transport, rank}, "ofi: loaded {}", path);
      return *state.module;
    }
    tried.push_back(fmt::format("{} ({})", path, why));
  }
  state.failure = fmt::format(
      "cannot load the ofi transport's module {}: tried {}; install it beside libbanyan or set "
      "BANYAN_OFI_MODULE to its path",
      kModuleFile, tried.empty() ? std::string("no path") : fmt::format("{}", fmt::join(tried, "; ")));
  fail(ErrorCode::NotSupported, "{}", *state.failure);
}

void firstUseGuarded(int rank, const std::function<void()>& body) {
  static std::atomic<bool> used{false};
  if (used.exchange(true)) {
    body();
    return;
  }
  Undone atLoad;
  {
    LoadState& state = loadState();
    std::lock_guard lock(state.mutex);
    atLoad = std::move(state.undoneAtLoad);
    state.undoneAtLoad.clear();
  }
  guarded(body, [&](const Undone& undone) { warnRestored(rank, atLoad, undone); });
}

}  // namespace banyan::transport::ofi
