// tools/plot on what banyan-bench really writes: a two-rank sweep's -J file becomes a PNG (and
// an SVG whose legend names the library); bad input is refused with a message, not a trace.

#include "support/multiproc.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::pair<int, std::string> run(const std::string& command) {
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string slurp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("tools/plot draws banyan-bench -J output as PNG and SVG", "[multiproc][observe]") {
  char pattern[] = "/tmp/banyan-plot-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  const std::string dir = pattern;
  const std::string json = dir + "/banyan_allreduce.json";
  const auto [benchStatus, benchOutput] = run(std::string(BANYAN_BUILD_DIR) +
                                              "/tools/banyan-bench allreduce -np 2 -b 8 -e 64K -f 4 -n 3 -w 1 -J " + json);
  INFO(benchOutput);
  REQUIRE(benchStatus == 0);
  const std::string plot = std::string(BANYAN_SOURCE_DIR) + "/tools/plot";
  const auto [pngStatus, pngOutput] = run(plot + " -o " + dir + "/bench.png " + json);
  INFO(pngOutput);
  CHECK(pngStatus == 0);
  const std::string png = slurp(dir + "/bench.png");
  CHECK(png.size() > 10000);
  CHECK(png.rfind("\x89PNG\r\n", 0) == 0);
  const auto [svgStatus, svgOutput] = run(plot + " -o " + dir + "/bench.svg " + json);
  INFO(svgOutput);
  CHECK(svgStatus == 0);
  const std::string svg = slurp(dir + "/bench.svg");
  CHECK_THAT(svg, Catch::Contains("<svg"));
  CHECK_THAT(svg, Catch::Contains("banyan, 2 ranks"));
  // A file that is not banyan-bench output gets a one-line refusal.
  const auto [badStatus, badOutput] = run(plot + " -o " + dir + "/x.png " + dir + "/bench.svg");
  INFO(badOutput);
  CHECK(badStatus != 0);
  CHECK_THAT(badOutput, Catch::Contains("not a readable JSON file"));
  CHECK(badOutput.find("Traceback") == std::string::npos);
  run("rm -rf " + dir);
}
