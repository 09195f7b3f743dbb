#pragma once
// Builds a communicator's algorithm selector: probes (or loads) the topology and parses
// BANYAN_ALGO. Kept apart from communicator.cpp so that the constructor only calls it.

#include "common/log.hpp"
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
// With BANYAN_TUNE_FILE (config.tuneFile), every rank reads and parses the table before any
// probing and the ranks compare its hash through the store (agreeTuneTable); the selector gets
// it when its layout matches the topology, else `where` logs at INFO why it is ignored.
std::unique_ptr<tuning::Selector> makeSelector(Store& store, int rank, int size, const std::string& storePrefix,
                                               const topology::HostLayout& layout, const config::Config& config,
                                               const LinkMeasurer& measure, const log::Where& where);

// Every rank must follow the same table, or ranks would run different schedules for one call
// and hang. Rank 0 publishes its table's hash ("none" without one) under `storePrefix`. When
// it has a table, every rank publishes its own, rank 0 compares them all and publishes a
// verdict, and every rank throws Error(InvalidUsage) with that verdict when a rank differs.
// Without a table on rank 0 that is one key set and one read per rank, and a rank that has a
// table there fails alone (rank 0 then sees it as a lost peer at its first collective).
void agreeTuneTable(Store& store, int rank, int size, const std::string& storePrefix,
                    const std::optional<tuning::TuneTable>& table, std::chrono::milliseconds timeout);

}  // namespace banyan::runtime
