#include "common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace banyan::log {
namespace {

std::atomic<int> gLevel{static_cast<int>(config::LogLevel::Warn)};
std::atomic<unsigned> gSubsystems{config::kAllSubsystems};

const char* levelName(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Warn:
      return "WARN";
    case config::LogLevel::Info:
      return "INFO";
    case config::LogLevel::Trace:
      return "TRACE";
    case config::LogLevel::None:
      break;
  }
  return "";
}

}  // namespace

const std::string& hostName() {
  static const std::string name = [] {
    char buffer[256] = {};
    gethostname(buffer, sizeof buffer - 1);
    return std::string(buffer);
  }();
  return name;
}

void setLevel(config::LogLevel level) { gLevel = static_cast<int>(level); }

void setSubsystems(unsigned mask) { gSubsystems = mask; }

bool enabled(config::LogLevel level) { return static_cast<int>(level) <= gLevel.load(std::memory_order_relaxed); }

bool enabled(config::LogLevel level, Subsystem subsystem) {
  return enabled(level) && (level == config::LogLevel::Warn ||
                            (gSubsystems.load(std::memory_order_relaxed) & config::bit(subsystem)) != 0);
}

void write(config::LogLevel level, const Where& where, const std::string& message) {
  // "r-" / "c-": a line not about one rank or one communicator keeps the same columns.
  const std::string rank = where.rank < 0 ? "r-" : fmt::format("r{}", where.rank);
  const std::string communicator = where.communicator < 0 ? "c-" : fmt::format("c{}", where.communicator);
  // One fputs per line keeps lines of different threads and ranks from interleaving mid-line.
  const std::string line = fmt::format("banyan {}:{} {} {} {} {}: {}\n", hostName(), getpid(), rank, communicator,
                                       levelName(level), config::toString(where.subsystem), message);
  std::fputs(line.c_str(), stderr);
}

}  // namespace banyan::log
