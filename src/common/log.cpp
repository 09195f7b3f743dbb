#include "common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace banyan::log {
namespace {

std::atomic<int> gLevel{static_cast<int>(config::LogLevel::Warn)};

const char* levelName(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Warn: return "WARN";
    case config::LogLevel::Info: return "INFO";
    case config::LogLevel::Trace: return "TRACE";
    case config::LogLevel::None: break;
  }
  return "";
}

const std::string& hostName() {
  static const std::string name = [] {
    char buffer[256] = {};
    gethostname(buffer, sizeof buffer - 1);
    return std::string(buffer);
  }();
  return name;
}

}  // namespace

void setLevel(config::LogLevel level) { gLevel = static_cast<int>(level); }

bool enabled(config::LogLevel level) { return static_cast<int>(level) <= gLevel.load(std::memory_order_relaxed); }

void write(config::LogLevel level, int rank, const std::string& message) {
  // One fputs per line keeps lines of different ranks from interleaving mid-line.
  std::string line = fmt::format("banyan {}:{} r{} {} {}\n", hostName(), getpid(), rank, levelName(level), message);
  std::fputs(line.c_str(), stderr);
}

}  // namespace banyan::log
