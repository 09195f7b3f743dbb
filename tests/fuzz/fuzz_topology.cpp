// BANYAN_TOPO_FILE: a topology text the user (or a stale file) hands every rank
// (src/topology/topology.hpp). Properties: bad text raises banyan::Error and nothing else (any
// other exception escapes and libFuzzer reports it); an accepted topology is consistent (every
// rank on exactly one host that lists it), and its text form is a fixed point: printing,
// parsing and printing again gives the same text.

#include "topology/topology.hpp"

#include "fuzz_check.hpp"

#include <banyan/error.hpp>

#include <string>

using namespace banyan;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  topology::Topology parsed;
  try {
    parsed = topology::parse(text, "fuzz");
  } catch (const Error&) {
    return 0;
  }
  FUZZ_CHECK(parsed.size >= 1);
  FUZZ_CHECK(parsed.hostOfRank.size() == static_cast<std::size_t>(parsed.size));
  for (int rank = 0; rank < parsed.size; ++rank) {
    const int host = parsed.hostOfRank[static_cast<std::size_t>(rank)];
    FUZZ_CHECK(host >= 0 && host < parsed.hostCount());
    int listed = 0;
    for (const int r : parsed.hosts[static_cast<std::size_t>(host)].ranks) listed += r == rank;
    FUZZ_CHECK(listed == 1);
  }
  const std::string printed = topology::toText(parsed);
  topology::Topology again;
  try {
    again = topology::parse(printed, "fuzz (printed)");
  } catch (const Error& error) {
    std::fprintf(stderr, "the printed form of an accepted topology is refused: %s\n%s", error.what(), printed.c_str());
    std::abort();
  }
  FUZZ_CHECK(topology::toText(again) == printed);
  return 0;
}
