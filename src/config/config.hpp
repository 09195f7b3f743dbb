#pragma once
// The one place BANYAN_* variables are read. Every variable is a row of variables() (which
// docs/configuration.md mirrors; a test checks they agree), and resolve() turns Options plus
// the environment plus defaults into the Config the runtime uses.

#include <banyan/options.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>

namespace banyan::config {

enum class LogLevel { None, Warn, Info, Trace };

struct Config {
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  std::string transport = "auto";       // auto | tcp | shm
  std::size_t crossMemoryBytes = 64 * 1024;  // 0: never
  bool shmCollectives = true;
  std::size_t sliceBytes = 1024 * 1024;
  int socketsPerPeer = 1;
  std::size_t socketBufferBytes = 4 * 1024 * 1024;
  std::string socketAddr;  // empty: derive from the store connection
  LogLevel logLevel = LogLevel::Warn;
  // Selection and topology (environment only so far): the BANYAN_ALGO text (parsed by
  // tuning::parseAlgoOverride), a topology file to load instead of probing, and one to write.
  std::string algo;
  std::string topoFile;
  std::string topoDumpFile;
  // How long the progress thread and blocking waits poll before they sleep.
  // Unset: 50 us when ranks do not outnumber cores, else 200 us yielding (see CommunicatorImpl).
  std::optional<std::chrono::microseconds> spin;
};

struct Variable {
  const char* name;          // BANYAN_...
  const char* defaultValue;  // as documented
  const char* meaning;
};

// Every variable banyan reads, including the bootstrap ones (BANYAN_RANK, ...).
std::span<const Variable> variables();

// Options first, then the environment, then defaults. Throws Error(InvalidUsage) naming the
// variable (or Options field) and the bad value.
Config resolve(const Options& options);

// Parsers shared with the command-line tools.
// "300", "300s", "1500ms", "5m" -> milliseconds (bare numbers are seconds).
std::chrono::milliseconds parseDuration(const std::string& text, const char* what);
// "65536", "64K", "4M", "1G" (powers of 1024).
std::size_t parseBytes(const std::string& text, const char* what);
LogLevel parseLogLevel(const std::string& text, const char* what);

}  // namespace banyan::config
