#pragma once
// Leveled logging to stderr through fmt. Each line names host, pid, rank, communicator and
// subsystem, so the interleaved output of many ranks stays readable and greppable:
//   "banyan node1:1234 r2 c0 INFO coll: allreduce of 4096 B per rank uses ring (...)"
// BANYAN_DEBUG sets the level (none, warn, info, trace); BANYAN_DEBUG_SUBSYS narrows INFO and
// TRACE lines to some subsystems. WARN lines always print.

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <utility>

#include "common/log_level.hpp"

namespace banyan::log {

// Where a line comes from. communicator < 0: not about one communicator (the store, a tool).
struct Where {
  Subsystem subsystem = Subsystem::Coll;
  int rank = -1;
  std::int64_t communicator = -1;
};

// Per process: each communicator sets them from its configuration; the last one created wins.
void setLevel(log::LogLevel level);
void setSubsystems(unsigned mask);  // bits of log::bit(Subsystem)
bool enabled(log::LogLevel level);
bool enabled(log::LogLevel level, Subsystem subsystem);
void write(log::LogLevel level, const Where& where, const std::string& message);
// This machine's name, as the log prefix shows it.
const std::string& hostName();

template <typename... Args>
void warn(const Where& where, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(log::LogLevel::Warn)) write(log::LogLevel::Warn, where, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void info(const Where& where, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(log::LogLevel::Info, where.subsystem)) {
    write(log::LogLevel::Info, where, fmt::format(format, std::forward<Args>(args)...));
  }
}
template <typename... Args>
void trace(const Where& where, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(log::LogLevel::Trace, where.subsystem)) {
    write(log::LogLevel::Trace, where, fmt::format(format, std::forward<Args>(args)...));
  }
}

// The older form, by rank alone: lines count as subsystem coll, with no communicator.
template <typename... Args>
void warn(int rank, fmt::format_string<Args...> format, Args&&... args) {
  warn(Where{Subsystem::Coll, rank}, format, std::forward<Args>(args)...);
}
template <typename... Args>
void info(int rank, fmt::format_string<Args...> format, Args&&... args) {
  info(Where{Subsystem::Coll, rank}, format, std::forward<Args>(args)...);
}
template <typename... Args>
void trace(int rank, fmt::format_string<Args...> format, Args&&... args) {
  trace(Where{Subsystem::Coll, rank}, format, std::forward<Args>(args)...);
}

}  // namespace banyan::log
