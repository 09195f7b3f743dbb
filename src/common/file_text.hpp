#pragma once
// A whole text file as a string, for the parsers that take their input from a file (topology,
// tuning table): nullopt when it cannot be opened, so each caller names the file in its own error.

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace banyan {

inline std::optional<std::string> readFileText(const std::string& path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace banyan
