#pragma once
// Builds a communicator's algorithm selector: probes (or loads) the topology and parses
// BANYAN_ALGO. Kept apart from communicator.cpp so that the constructor only calls it.

#include "config/config.hpp"
#include "runtime/transport_setup.hpp"
#include "tuning/selector.hpp"

#include <banyan/store.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace banyan::runtime {

// Measures the link between ranks a and b (both call it; runtime/link_probe.hpp): the figures
// on rank a, std::nullopt on b.
using LinkMeasurer = std::function<std::optional<topology::LinkFigures>(
    int a, int b, std::size_t bulkBytes, std::chrono::steady_clock::time_point deadline)>;

// Rank 0 measures one intra-host link (to the first other rank of its host) and one
// inter-host link (to the first rank of another host), when there are such ranks; those ranks
// take part, the others only wait for rank 0's topology.
std::unique_ptr<tuning::Selector> makeSelector(Store& store, int rank, int size, const std::string& storePrefix,
                                               const HostLayout& layout, const config::Config& config,
                                               const LinkMeasurer& measure);

}  // namespace banyan::runtime
