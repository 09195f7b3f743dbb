#pragma once
// Files a test writes or reads back: a fresh temporary directory, whether a path exists, and a
// whole file as a string, read or written (binary-safe, so PNG output reads back unchanged).

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace banyan::test {

// A new, empty directory under /tmp whose name starts with `prefix` (e.g. "banyan-flight").
inline std::string makeTempDir(const std::string& prefix) {
  std::string pattern = "/tmp/" + prefix + "-XXXXXX";
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

inline bool fileExists(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0;
}

// The whole file; empty if it cannot be read (the caller's checks then say what was missing).
inline std::string readFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Writes `text` as the whole file `path` (replacing it).
inline void writeFile(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary);
  file << text;
  file.close();
  REQUIRE(file.good());
}

}  // namespace banyan::test
