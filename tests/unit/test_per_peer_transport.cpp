// The per-peer transport (transports/per_peer_transport.hpp) over real transports: two ranks,
// each with a shared-memory transport and a TCP transport on one event loop, with a real store
// server, and the peer routed over TCP. What is checked: while a message over TCP is
// outstanding, the transport does not say that its peers answer in memory, so the driver looks
// at the event loop on every look (progress_driver.cpp); it says so again once nothing is.

#include "transports/per_peer_transport.hpp"

#include <banyan/tcp_store.hpp>

#include "transports/shm/shm_transport.hpp"
#include "transports/tcp/tcp_transport.hpp"

#include <fmt/format.h>
#include <unistd.h>
#include <asio.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace banyan;
using namespace banyan::transport;
using namespace std::chrono_literals;

namespace {

struct Ranks {
  TcpStoreServer server{"127.0.0.1", 0};
  asio::io_context io;
  std::unique_ptr<PerPeerTransport> rank[2];

  Ranks() {
    const std::string name = fmt::format("banyan-perpeer{}", ::getpid());
    std::unique_ptr<Transport> shm[2], tcp[2];
    const auto makeShm = [&](int r) {
      shm::ShmTransportParams params;
      params.rank = r;
      params.size = 2;
      params.localRanks = {0, 1};
      params.name = name;
      params.storePrefix = name + "/";
      params.probeValue = 0x5eed;
      params.timeout = 10s;
      return std::make_unique<shm::ShmTransport>(io.get_executor(),
                                                 std::make_shared<TcpStore>("127.0.0.1", server.port()), params);
    };
    std::thread other([&] { shm[1] = makeShm(1); });  // the two set-ups wait for each other
    shm[0] = makeShm(0);
    other.join();
    for (int r = 0; r < 2; ++r) {
      tcp::TcpTransportParams params;
      params.rank = r;
      params.size = 2;
      params.nonce = 78;
      params.storePrefix = "perpeer/";
      params.listenAddress = "127.0.0.1";
      params.timeout = 10s;
      tcp[r] = std::make_unique<tcp::TcpTransport>(io.get_executor(),
                                                   std::make_shared<TcpStore>("127.0.0.1", server.port()), params);
    }
    for (int r = 0; r < 2; ++r) {
      std::vector<std::unique_ptr<Transport>> both;
      both.push_back(std::move(shm[r]));
      both.push_back(std::move(tcp[r]));
      // The other rank over TCP (index 1), as if it were on another host.
      std::vector<int> route = r == 0 ? std::vector<int>{-1, 1} : std::vector<int>{1, -1};
      rank[r] = std::make_unique<PerPeerTransport>(std::move(both), std::move(route));
    }
  }

  void runUntil(const std::function<bool()>& ready) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!ready()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      rank[0]->poll();
      rank[1]->poll();
      io.run_one_for(1ms);
    }
  }
};

}  // namespace

TEST_CASE("per-peer transport: peers answer in memory only while nothing is outstanding over TCP",
          "[per-peer-transport]") {
  Ranks ranks;
  REQUIRE(ranks.rank[0]->transportOf(1) == "tcp");
  CHECK(ranks.rank[0]->answersInMemory());  // it has a shared-memory transport, and nothing waits

  std::uint64_t in = 0, out = 0x1234;
  std::optional<Status> received, sent;
  ranks.rank[0]->recv(1, 5, &in, sizeof in, [&](const Status& s) { received = s; });
  CHECK_FALSE(ranks.rank[0]->answersInMemory());  // a receive over TCP is outstanding
  ranks.rank[1]->send(0, 5, &out, sizeof out, [&](const Status& s) { sent = s; });
  CHECK_FALSE(ranks.rank[1]->answersInMemory());
  ranks.runUntil([&] { return received && sent; });
  CHECK(received->isOk());
  CHECK(sent->isOk());
  CHECK(in == 0x1234);
  CHECK(ranks.rank[0]->answersInMemory());
  CHECK(ranks.rank[1]->answersInMemory());

  // A receive that a shutdown ends counts down too.
  std::optional<Status> ended;
  ranks.rank[0]->recv(1, 6, &in, sizeof in, [&](const Status& s) { ended = s; });
  CHECK_FALSE(ranks.rank[0]->answersInMemory());
  ranks.rank[0]->shutdown(Status(ErrorCode::Aborted, "test over"));
  ranks.runUntil([&] { return ended.has_value(); });
  CHECK_FALSE(ended->isOk());
  CHECK(ranks.rank[0]->answersInMemory());
}
