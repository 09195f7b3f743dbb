#include "transports/shm/shm_connect.hpp"

#include <fmt/format.h>

namespace banyan::transport::shm {
namespace {

// Announces this rank's `what` and waits until every other rank has announced it too.
void barrier(Store& store, const SegmentExchange& exchange, const char* what) {
  // "/@<rank>": on the writer's store root, when there are several (bootstrap/store_roots.hpp).
  const auto key = [&](int rank) { return fmt::format("{}{}/@{}", exchange.keyPrefix, what, rank); };
  store.set(key(exchange.me), Store::Bytes{'1'}, exchange.timeout);
  std::vector<std::string> others;
  for (int rank : exchange.ranks) {
    if (rank != exchange.me) others.push_back(key(rank));
  }
  store.wait(others, exchange.timeout);
}

}  // namespace

std::vector<Segment> exchangeSegments(Store& store, Segment& mine, const SegmentExchange& exchange,
                                      const std::function<void(std::size_t index, const Segment& peer)>& onMapped) {
  barrier(store, exchange, "created");
  std::vector<Segment> peers(exchange.ranks.size());
  for (std::size_t i = 0; i < exchange.ranks.size(); ++i) {
    const int rank = exchange.ranks[i];
    if (rank == exchange.me) continue;
    peers[i] = Segment::open(exchange.nameOf(rank), exchange.bytes, exchange.residency);
    onMapped(i, peers[i]);
  }
  barrier(store, exchange, "mapped");
  mine.unlink();
  return peers;
}

}  // namespace banyan::transport::shm
