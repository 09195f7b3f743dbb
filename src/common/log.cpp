#include "common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace banyan::log {
namespace {

std::atomic<int> gLevel{static_cast<int>(log::LogLevel::Warn)};
std::atomic<unsigned> gSubsystems{log::kAllSubsystems};

const char* levelName(log::LogLevel level) {
  switch (level) {
    case log::LogLevel::Warn:
      return "WARN";
    case log::LogLevel::Info:
      return "INFO";
    case log::LogLevel::Trace:
      return "TRACE";
    case log::LogLevel::None:
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

void setLevel(log::LogLevel level) { gLevel = static_cast<int>(level); }

std::string_view toString(Subsystem subsystem) {
  switch (subsystem) {
    case Subsystem::Init:
      return "init";
    case Subsystem::Bootstrap:
      return "bootstrap";
    case Subsystem::Transport:
      return "transport";
    case Subsystem::Tuning:
      return "tuning";
    case Subsystem::Coll:
      return "coll";
    case Subsystem::Observe:
      return "observe";
  }
  return "?";
}

void setSubsystems(unsigned mask) { gSubsystems = mask; }

bool enabled(log::LogLevel level) { return static_cast<int>(level) <= gLevel.load(std::memory_order_relaxed); }

bool enabled(log::LogLevel level, Subsystem subsystem) {
  return enabled(level) &&
         (level == log::LogLevel::Warn || (gSubsystems.load(std::memory_order_relaxed) & log::bit(subsystem)) != 0);
}

void write(log::LogLevel level, const Where& where, const std::string& message) {
  // "r-" / "c-": a line not about one rank or one communicator keeps the same columns.
  const std::string rank = where.rank < 0 ? "r-" : fmt::format("r{}", where.rank);
  const std::string communicator = where.communicator < 0 ? "c-" : fmt::format("c{}", where.communicator);
  // One fputs per line keeps lines of different threads and ranks from interleaving mid-line.
  const std::string line = fmt::format("banyan {}:{} {} {} {} {}: {}\n", hostName(), getpid(), rank, communicator,
                                       levelName(level), toString(where.subsystem), message);
  std::fputs(line.c_str(), stderr);
}

}  // namespace banyan::log
