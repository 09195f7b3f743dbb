// banyan_launch_local (banyan.h, "Launching"): the local launcher of the multi-process tests
// (src/bootstrap/local_launcher.hpp) for programs that are not C++, such as `python3 -m
// banyan.run`, so that they reuse its store server and job key instead of making their own.

#include "bootstrap/local_launcher.hpp"
#include "capi/capi_call.hpp"

#include <chrono>
#include <string>
#include <vector>

using banyan::capi::guarded;
using banyan::capi::requireArgument;

extern "C" {

banyan_status banyan_launch_local(int nranks, const char* const* argv, long timeout_ms, int* exit_codes) {
  constexpr const char* f = "banyan_launch_local";
  return guarded(f, [&] {
    requireArgument(argv, f, "argv");
    if (nranks < 1) {
      throw banyan::Error(banyan::ErrorCode::InvalidUsage,
                          std::string(f) + ": nranks is " + std::to_string(nranks) + " (at least 1)");
    }
    if (timeout_ms <= 0) {
      throw banyan::Error(banyan::ErrorCode::InvalidUsage,
                          std::string(f) + ": timeout_ms is " + std::to_string(timeout_ms) + " (above 0)");
    }
    std::vector<std::string> command;
    for (const char* const* arg = argv; *arg != nullptr; ++arg) command.emplace_back(*arg);
    banyan::bootstrap::LaunchOptions options;
    options.deadline = std::chrono::milliseconds(timeout_ms);
    const auto exits = banyan::bootstrap::launchLocalExec(nranks, command, options);
    std::string late;
    for (const auto& exit : exits) {
      if (exit_codes != nullptr) exit_codes[exit.rank] = exit.signal != 0 ? 128 + exit.signal : exit.exitCode;
      if (exit.killedAtDeadline) late += (late.empty() ? "" : "; ") + exit.describe();
    }
    if (!late.empty()) {
      throw banyan::Error(banyan::ErrorCode::Timeout,
                          std::string(f) + ": " + late + " (after " + std::to_string(timeout_ms) + " ms)");
    }
  });
}

}  // extern "C"
