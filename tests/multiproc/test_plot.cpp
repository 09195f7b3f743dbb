// tools/plot on what banyan-bench really writes: a two-rank sweep's -J file becomes a PNG (and
// an SVG whose legend names the library); bad input is refused with a message, not a trace.

#include "support/files.hpp"
#include "support/multiproc.hpp"
#include "support/shell.hpp"

using banyan::test::makeTempDir;
using banyan::test::readFile;
using banyan::test::runShell;

#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

TEST_CASE("tools/plot draws banyan-bench -J output as PNG and SVG", "[multiproc][observe]") {
  const std::string dir = makeTempDir("banyan-plot");
  const std::string json = dir + "/banyan_allreduce.json";
  const auto [benchStatus, benchOutput] = runShell(
      std::string(BANYAN_BUILD_DIR) + "/tools/banyan-bench allreduce -np 2 -b 8 -e 64K -f 4 -n 3 -w 1 -J " + json);
  INFO(benchOutput);
  REQUIRE(benchStatus == 0);
  const std::string plot = std::string(BANYAN_SOURCE_DIR) + "/tools/plot";
  const auto [pngStatus, pngOutput] = runShell(plot + " -o " + dir + "/bench.png " + json);
  INFO(pngOutput);
  CHECK(pngStatus == 0);
  const std::string png = readFile(dir + "/bench.png");
  CHECK(png.size() > 10000);
  CHECK(png.rfind("\x89PNG\r\n", 0) == 0);
  const auto [svgStatus, svgOutput] = runShell(plot + " -o " + dir + "/bench.svg " + json);
  INFO(svgOutput);
  CHECK(svgStatus == 0);
  const std::string svg = readFile(dir + "/bench.svg");
  CHECK_THAT(svg, Catch::Contains("<svg"));
  CHECK_THAT(svg, Catch::Contains("banyan, 2 ranks"));
  // A file that is not banyan-bench output gets a one-line refusal.
  const auto [badStatus, badOutput] = runShell(plot + " -o " + dir + "/x.png " + dir + "/bench.svg");
  INFO(badOutput);
  CHECK(badStatus != 0);
  CHECK_THAT(badOutput, Catch::Contains("not a readable JSON file"));
  CHECK(badOutput.find("Traceback") == std::string::npos);
  runShell("rm -rf " + dir);
}
