// Every BANYAN_* name the code reads is documented: the test scans the sources for string
// literals naming a variable, so a variable read outside src/config (or added to its table but
// not to the docs) is caught, not only the rows of config::variables().

#include "config/config.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("every BANYAN_* variable named in the sources is in docs/configuration.md", "[config]") {
  const std::filesystem::path root = BANYAN_SOURCE_DIR;
  const std::string docs = slurp(root / "docs/configuration.md");
  REQUIRE(!docs.empty());
  const std::regex literal("\"(BANYAN_[A-Z0-9_]+)\"");
  std::set<std::string> names;
  for (const char* dir : {"src", "transports", "tools", "include"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root / dir)) {
      const auto extension = entry.path().extension();
      if (!entry.is_regular_file() || (extension != ".cpp" && extension != ".hpp" && extension != ".h")) continue;
      const std::string text = slurp(entry.path());
      for (auto it = std::sregex_iterator(text.begin(), text.end(), literal); it != std::sregex_iterator(); ++it) {
        names.insert((*it)[1]);
      }
    }
  }
  // The scan must see the variables the config table has, or it scans nothing.
  CHECK(names.count("BANYAN_TIMEOUT") == 1);
  CHECK(names.count("BANYAN_FLIGHT_RECORDER") == 1);
  for (const auto& name : names) {
    INFO(name);
    CHECK_THAT(docs, Catch::Contains("`" + name + "`"));
  }
  // And every row of the config table is read somewhere (a row of a variable nobody reads
  // would document a knob that does nothing).
  for (const auto& variable : banyan::config::variables()) {
    INFO(variable.name);
    CHECK(names.count(variable.name) == 1);
  }
}
