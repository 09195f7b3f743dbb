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

// Runs `body` under a ProcessStateGuard and says in one WARN line what it had to undo.
void guarded(int rank, const char* what, const std::function<void()>& body) {
  common::ProcessStateGuard guard;
  const auto restore = [&] {
    const std::vector<std::string> undone = guard.restore();
    if (undone.empty()) return;
    log::warn(log::Where{log::Subsystem::Transport, rank}, "ofi: {} changed process-wide state; restored: {}", what,
              fmt::join(undone, ", "));
  };
  try {
    body();
  } catch (...) {
    restore();
    throw;
  }
  restore();
}

struct LoadState {
  std::mutex mutex;
  OfiModule* module = nullptr;
  std::optional<std::string> failure;  // why loading failed, kept for later calls
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
    guarded(rank, "loading the ofi module", [&] { why = tryLoad(path, state.module); });
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
  guarded(rank, "libfabric's first use", body);
}

}  // namespace banyan::transport::ofi
