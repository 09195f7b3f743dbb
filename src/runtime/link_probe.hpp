#pragma once
// The measured part of the topology probe: latency and bandwidth of one link, between rank `a`
// and rank `b`, run at communicator creation before the progress thread starts (the caller
// drives the event loop through `pollOnce`). Both ranks run it; every other rank skips it.
//
// Latency: kRoundTrips ping-pongs of 8 B; half the best round trip (the least disturbed one,
// on a busy machine). Bandwidth: kBulkMessages messages of `bulkBytes` from a to b, all posted
// at once, then an 8 B acknowledgement; the bytes over (that time - one round trip).
// A few tens of milliseconds on a 1 Gbit/s link; the whole probe is bounded by `deadline`.

#include "runtime/executor.hpp"
#include "topology/topology.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

namespace banyan::runtime {

inline constexpr int kRoundTrips = 20;
inline constexpr int kBulkMessages = 4;
// Carried by the probe's messages; no collective reaches this sequence number.
inline constexpr std::uint64_t kProbeTag = ~std::uint64_t{0};

// The figures on rank `a`; std::nullopt on rank b. Throws Error(Timeout) past `deadline`, or
// the transport's error.
std::optional<topology::LinkFigures> measureLink(Executor& executor, const std::function<void()>& pollOnce, int rank,
                                                 int a, int b, std::size_t bulkBytes,
                                                 std::chrono::steady_clock::time_point deadline);

}  // namespace banyan::runtime
