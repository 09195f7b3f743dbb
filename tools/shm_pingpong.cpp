// The shared-memory transport's own cost per message, without the scheduler: two ShmTransports
// in one process (real segments and rings, set up through a TcpStore on loopback), one thread
// polling both, round trips of one message on the transport's own channel. Prints the median
// over the repetitions of the time per round trip (two sends, two receives, their completions).
// A/B of the transport's hot path: build this file against both trees (bench/RESULTS.md,
// "Channels in the shared-memory transport").
//
//   shm-pingpong [BYTES] [ROUND_TRIPS] [REPETITIONS]     defaults: 8 200000 7

#include <banyan/tcp_store.hpp>

#include "transports/shm/shm_transport.hpp"

#include <fmt/format.h>
#include <asio.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

using banyan::Status;
using banyan::transport::shm::ShmTransport;
using banyan::transport::shm::ShmTransportParams;

int main(int argc, char** argv) {
  const std::size_t bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 8;
  const long trips = argc > 2 ? std::atol(argv[2]) : 200000;
  const int repetitions = argc > 3 ? std::atoi(argv[3]) : 7;
  banyan::TcpStoreServer server("127.0.0.1", 0);
  asio::io_context io;
  std::unique_ptr<ShmTransport> rank[2];
  const auto make = [&](int r) {
    ShmTransportParams params;
    params.rank = r;
    params.size = 2;
    params.localRanks = {0, 1};
    params.name = fmt::format("banyan-pingpong{}-c0", ::getpid());
    params.storePrefix = "pingpong/";
    params.probeValue = 0x5eed;
    auto store = std::make_shared<banyan::TcpStore>("127.0.0.1", server.port());
    rank[r] = std::make_unique<ShmTransport>(io.get_executor(), store, params);
  };
  std::thread other(make, 1);
  make(0);
  other.join();

  std::vector<std::byte> out(bytes), in(bytes);
  int pending = 0;
  bool failed = false;
  const auto done = [&](const Status& status) {
    --pending;
    failed = failed || !status.isOk();
  };
  // One message from `from` to `to`, polled to completion.
  const auto message = [&](int from, std::uint64_t tag) {
    pending = 2;
    rank[from]->send(1 - from, tag, out.data(), bytes, done);
    rank[1 - from]->recv(from, tag, in.data(), bytes, done);
    while (pending != 0) {
      rank[0]->poll();
      rank[1]->poll();
    }
  };
  std::vector<double> perTrip;
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < trips; ++i) {
      message(0, static_cast<std::uint64_t>(i));
      message(1, static_cast<std::uint64_t>(i));
    }
    const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
    perTrip.push_back(took.count() / static_cast<double>(trips));
  }
  if (failed) {
    fmt::print(stderr, "shm-pingpong: an operation failed\n");
    return 1;
  }
  std::sort(perTrip.begin(), perTrip.end());
  fmt::print("shm-pingpong {} B: {:.1f} ns per round trip (median of {}; min {:.1f}, max {:.1f})\n", bytes,
             perTrip[perTrip.size() / 2], perTrip.size(), perTrip.front(), perTrip.back());
  return 0;
}
