// bruck-direct (src/algorithms/bruck_direct.hpp) forced by BANYAN_ALGO in real jobs over tcp:
// exact allgather and reduce-scatter results, in and out of place, on rank counts whose rounds
// wrap past the last rank (3, 5, 6) and on a power of two.

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "support/shell.hpp"

#include <string>

namespace {

using banyan::test::runShell;

const std::string kBench = std::string(BANYAN_BUILD_DIR) + "/tools/banyan-bench";

}  // namespace

TEST_CASE("bruck-direct allgather and reduce-scatter give exact results over tcp", "[multiproc][bruck-direct]") {
  for (const char* collective : {"allgather", "reduce_scatter"}) {
    for (int ranks : {3, 4, 5, 6}) {
      const auto [status, output] =
          runShell(fmt::format("BANYAN_TIMEOUT=30s BANYAN_TRANSPORT=tcp BANYAN_SHM_COLLECTIVES=0 BANYAN_DEBUG=info "
                               "BANYAN_ALGO='{}:0-:bruck-direct' timeout 120 {} "
                               "{} -np {} -b 4 -e 4M -f 64 -n 2 -w 1 -c 1 -d f32",
                               collective, kBench, collective, ranks));
      INFO(collective << " on " << ranks << " ranks\n" << output);
      CHECK(status == 0);
      CHECK_THAT(output, Catch::Contains("# Out of bounds values : 0 OK"));
      CHECK_THAT(output, Catch::Contains("uses bruck-direct (BANYAN_ALGO"));
    }
  }
}
