#pragma once
// banyan-sim --validate DIR: bench/topo.sh's measurements (DIR/LAYOUT_COLLECTIVE.tsv, each
// algorithm forced, medians) against the simulation on the topology the same job probed
// (DIR/LAYOUT.topo): per layout, collective, size and algorithm the measured and simulated
// times and their ratio; then the median error |simulated - measured| / measured and how often
// the fastest simulated algorithm is the fastest measured one.

#include "tools/sim/sim_args.hpp"

namespace banyan::sim_tool {

int validate(const SimArgs& args);

}  // namespace banyan::sim_tool
