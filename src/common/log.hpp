#pragma once
// Minimal leveled logging to stderr through fmt. Each line names host, pid and rank so the
// interleaved output of many ranks stays readable:  "banyan node1:1234 r2 WARN ...".

#include "config/config.hpp"

#include <fmt/format.h>

#include <string>
#include <utility>

namespace banyan::log {

// Per process: each communicator sets it from its configuration; the last one created wins.
void setLevel(config::LogLevel level);
bool enabled(config::LogLevel level);
void write(config::LogLevel level, int rank, const std::string& message);

template <typename... Args>
void warn(int rank, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(config::LogLevel::Warn)) write(config::LogLevel::Warn, rank, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void info(int rank, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(config::LogLevel::Info)) write(config::LogLevel::Info, rank, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void trace(int rank, fmt::format_string<Args...> format, Args&&... args) {
  if (enabled(config::LogLevel::Trace)) write(config::LogLevel::Trace, rank, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace banyan::log
