#pragma once
// Running a tool the way a user would, from a test: a shell command with its output captured.

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <utility>

namespace banyan::test {

// Runs `command` in sh with stderr joined to stdout; returns its exit status (128 + the signal
// when a signal ended it) and everything it printed.
inline std::pair<int, std::string> runShell(const std::string& command) {
  std::string output;
  FILE* pipe = popen(("{ " + command + "; } 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

// How many times `what` occurs in `text` (overlapping occurrences count).
inline std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

}  // namespace banyan::test
