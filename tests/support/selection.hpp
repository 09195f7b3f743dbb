#pragma once
// What the unit tests of topology and algorithm selection share: a layout of simulated hosts
// as tools/netns-hosts.sh makes them, and the text of the error a call throws.

#include <banyan/error.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <optional>
#include <string>

#include "topology/topology.hpp"

namespace banyan::test {

// `hosts` x `perHost` ranks: shared memory inside a host, 1 Gbit/s between hosts.
inline topology::Topology simulatedHosts(int hosts, int perHost) {
  return topology::uniform(hosts, perHost, {5, 3000, "default"}, {30, 117, "nic"}, {0, 5000, "measured"});
}

// The what() of the banyan::Error `f` throws, "(no error)" if it throws none; with `expected`,
// also checks the error's code.
inline std::string errorOf(const std::function<void()>& f, std::optional<ErrorCode> expected = std::nullopt) {
  try {
    f();
  } catch (const Error& e) {
    if (expected) CHECK(e.code() == *expected);
    return e.what();
  }
  return "(no error)";
}

}  // namespace banyan::test
