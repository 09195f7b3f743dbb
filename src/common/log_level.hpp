#pragma once
// The vocabulary of logging: how much to print and what a line is about. Here, at the bottom,
// so that common/log.hpp and every layer can name them; src/config parses them from
// BANYAN_DEBUG and BANYAN_DEBUG_SUBSYS.

#include <string_view>

namespace banyan::log {

enum class LogLevel { None, Warn, Info, Trace };

// What a log line is about, for BANYAN_DEBUG_SUBSYS. WARN lines print whatever their subsystem.
enum class Subsystem { Init, Bootstrap, Transport, Tuning, Coll, Observe };
inline constexpr unsigned kAllSubsystems = (1u << 6) - 1;
inline constexpr unsigned bit(Subsystem s) { return 1u << static_cast<unsigned>(s); }
// "coll", as BANYAN_DEBUG_SUBSYS and log lines spell it.
std::string_view toString(Subsystem subsystem);

}  // namespace banyan::log
