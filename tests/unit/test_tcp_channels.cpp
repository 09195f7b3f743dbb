// The TCP transport's channels (transport.hpp, openChannel): two ranks as two real transports in
// this process, on one event loop, over loopback connections, with a real store server.

#include "transports/tcp/tcp_transport.hpp"

#include <banyan/tcp_store.hpp>

#include <asio.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

using namespace banyan;
using namespace banyan::transport;
using namespace std::chrono_literals;

namespace {

// One result slot per posted operation.
struct Outcome {
  std::optional<Status> status;
  Completion callback() {
    return [this](const Status& s) { status = s; };
  }
  bool done() const { return status.has_value(); }
};

// Two ranks' transports over one store; the io_context is run by whoever waits.
struct Pair {
  asio::io_context io;
  TcpStoreServer server{"127.0.0.1", 0};
  std::shared_ptr<Store> store = std::make_shared<TcpStore>("127.0.0.1", server.port());
  std::unique_ptr<tcp::TcpTransport> rank[2];

  explicit Pair(int socketsPerPeer) {
    for (int r = 0; r < 2; ++r) {
      tcp::TcpTransportParams params;
      params.rank = r;
      params.size = 2;
      params.nonce = 77;
      params.storePrefix = "channels/";
      params.listenAddress = "127.0.0.1";
      params.socketsPerPeer = socketsPerPeer;
      params.timeout = 10s;
      rank[r] = std::make_unique<tcp::TcpTransport>(io.get_executor(), store, params);
    }
  }

  // Runs the event loop until `ready` holds; fails the test after 10 s.
  void runUntil(const std::function<bool()>& ready) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!ready()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      io.run_one_for(10ms);
    }
  }
  // Runs whatever is ready for a while (to show that something does not happen).
  void runFor(std::chrono::milliseconds time) {
    const auto until = std::chrono::steady_clock::now() + time;
    while (std::chrono::steady_clock::now() < until) io.run_one_for(5ms);
  }
};

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed) {
  std::vector<std::uint8_t> data(bytes);
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<std::uint8_t>(seed + i * 7);
  return data;
}

}  // namespace

TEST_CASE("tcp channels: messages of several channels interleave, each matched in its own order", "[tcp-channels]") {
  const int sockets = GENERATE(1, 2);
  Pair pair(sockets);
  auto a0 = pair.rank[0]->openChannel({0xa, {0, 1}}, pair.io.get_executor());
  auto a1 = pair.rank[1]->openChannel({0xa, {0, 1}}, pair.io.get_executor());
  // Channel b numbers the ranks the other way round.
  auto b0 = pair.rank[0]->openChannel({0xb, {1, 0}}, pair.io.get_executor());
  auto b1 = pair.rank[1]->openChannel({0xb, {1, 0}}, pair.io.get_executor());
  REQUIRE(a0);
  REQUIRE(b1);

  for (std::size_t bytes : {std::size_t{0}, std::size_t{8}, std::size_t{70} * 1024, std::size_t{2} << 20}) {
    CAPTURE(bytes);
    const auto onA = pattern(bytes, 1), onB = pattern(bytes, 2), onOwn = pattern(bytes, 3);
    std::vector<std::uint8_t> gotA(bytes), gotB(bytes), gotOwn(bytes);
    Outcome sent[3], received[3];
    // Rank 0 sends b, a, then its own; rank 1 posts its receives the other way round.
    b0->send(0, 5, onB.data(), bytes, sent[0].callback());  // channel b's rank 0 is transport rank 1
    a0->send(1, 5, onA.data(), bytes, sent[1].callback());
    pair.rank[0]->send(1, 5, onOwn.data(), bytes, sent[2].callback());
    pair.rank[1]->recv(0, 5, gotOwn.data(), bytes, received[0].callback());
    a1->recv(0, 5, gotA.data(), bytes, received[1].callback());
    b1->recv(1, 5, gotB.data(), bytes, received[2].callback());
    pair.runUntil([&] {
      for (const auto& o : received)
        if (!o.done()) return false;
      for (const auto& o : sent)
        if (!o.done()) return false;
      return true;
    });
    for (const auto& o : received) CHECK(o.status->isOk());
    CHECK(gotA == onA);
    CHECK(gotB == onB);
    CHECK(gotOwn == onOwn);
  }
}

TEST_CASE("tcp channels: a message for a channel not opened yet is kept until its receive", "[tcp-channels]") {
  Pair pair(1);
  auto c0 = pair.rank[0]->openChannel({0xc, {0, 1}}, pair.io.get_executor());
  const auto early = pattern(1000, 9);
  const std::uint64_t own = 0x1122334455667788ull;
  std::uint64_t gotOwn = 0;
  Outcome sentEarly, sentOwn, receivedOwn;
  c0->send(1, 1, early.data(), early.size(), sentEarly.callback());
  pair.rank[0]->send(1, 2, &own, sizeof own, sentOwn.callback());
  // Rank 1 has no channel c yet: reading its own message means reading c's, which comes first.
  pair.rank[1]->recv(0, 2, &gotOwn, sizeof gotOwn, receivedOwn.callback());
  pair.runUntil([&] { return receivedOwn.done(); });
  REQUIRE(receivedOwn.status->isOk());
  CHECK(gotOwn == own);

  auto c1 = pair.rank[1]->openChannel({0xc, {0, 1}}, pair.io.get_executor());
  std::vector<std::uint8_t> got(early.size());
  Outcome received;
  c1->recv(0, 1, got.data(), got.size(), received.callback());
  CHECK_FALSE(received.done());  // never inside the posting call
  pair.runUntil([&] { return received.done(); });
  REQUIRE(received.status->isOk());
  CHECK(got == early);
}

TEST_CASE("tcp channels: a mismatch or a shutdown ends one channel, the others go on", "[tcp-channels]") {
  Pair pair(1);
  auto a0 = pair.rank[0]->openChannel({0xa, {1, 0}}, pair.io.get_executor());
  auto a1 = pair.rank[1]->openChannel({0xa, {1, 0}}, pair.io.get_executor());
  auto b0 = pair.rank[0]->openChannel({0xb, {0, 1}}, pair.io.get_executor());
  auto b1 = pair.rank[1]->openChannel({0xb, {0, 1}}, pair.io.get_executor());

  // Channel a: 8 bytes sent where 16 are expected. The error names the channel's rank of the
  // sender (rank 1 there), not the connections'.
  std::uint64_t one = 1, two[2] = {};
  Outcome sent, received;
  a0->send(0, 4, &one, sizeof one, sent.callback());
  a1->recv(1, 4, two, sizeof two, received.callback());
  pair.runUntil([&] { return received.done(); });
  REQUIRE_FALSE(received.status->isOk());
  CHECK(received.status->mismatchPeer() == 1);
  CHECK_THAT(received.status->message(), Catch::Contains("does not match"));

  // Channel b and the transport's own carry on over the same connection.
  std::uint64_t value = 42, got = 0, ownValue = 43, ownGot = 0;
  Outcome s1, r1, s2, r2;
  b0->send(1, 6, &value, sizeof value, s1.callback());
  pair.rank[0]->send(1, 6, &ownValue, sizeof ownValue, s2.callback());
  b1->recv(0, 6, &got, sizeof got, r1.callback());
  pair.rank[1]->recv(0, 6, &ownGot, sizeof ownGot, r2.callback());
  pair.runUntil([&] { return r1.done() && r2.done(); });
  CHECK(r1.status->isOk());
  CHECK(r2.status->isOk());
  CHECK(got == 42);
  CHECK(ownGot == 43);

  // Rank 0 shuts channel b down: rank 1's receive on b from it fails as a closed connection
  // would, its own channel does not.
  Outcome waiting, waitingOwn, sentOwn;
  b1->recv(0, 7, &got, sizeof got, waiting.callback());
  b0->shutdown(Status::make(ErrorCode::Aborted, "channel b ends"));
  pair.runUntil([&] { return waiting.done(); });
  REQUIRE_FALSE(waiting.status->isOk());
  CHECK_THAT(waiting.status->message(), Catch::Contains("closed its connection"));
  CHECK(waiting.status->lostPeer() == 0);
  Outcome late;
  b0->send(1, 8, &value, sizeof value, late.callback());
  pair.runUntil([&] { return late.done(); });
  CHECK_THAT(late.status->message(), Catch::Contains("channel b ends"));
  pair.rank[0]->send(1, 9, &ownValue, sizeof ownValue, sentOwn.callback());
  pair.rank[1]->recv(0, 9, &ownGot, sizeof ownGot, waitingOwn.callback());
  pair.runUntil([&] { return waitingOwn.done(); });
  CHECK(waitingOwn.status->isOk());
}

TEST_CASE("tcp channels: the connections outlive the handle that opened them; a gone handle's completions never run",
          "[tcp-channels]") {
  Pair pair(1);
  auto a0 = pair.rank[0]->openChannel({0xa, {0, 1}}, pair.io.get_executor());
  auto a1 = pair.rank[1]->openChannel({0xa, {0, 1}}, pair.io.get_executor());
  auto b1 = pair.rank[1]->openChannel({0xb, {0, 1}}, pair.io.get_executor());
  // A first message connects the pair.
  std::uint64_t value = 5, got = 0;
  Outcome s0, r0;
  pair.rank[0]->send(1, 1, &value, sizeof value, s0.callback());
  pair.rank[1]->recv(0, 1, &got, sizeof got, r0.callback());
  pair.runUntil([&] { return r0.done() && s0.done(); });

  // Both transports' own handles go; channel a still talks.
  pair.rank[0].reset();
  pair.rank[1].reset();
  Outcome s1, r1;
  value = 6;
  a0->send(1, 2, &value, sizeof value, s1.callback());
  a1->recv(0, 2, &got, sizeof got, r1.callback());
  pair.runUntil([&] { return r1.done() && s1.done(); });
  CHECK(r1.status->isOk());
  CHECK(got == 6);

  // Rank 1's channel b goes with a receive posted: nothing of it runs afterwards, even when a
  // message for it arrives.
  bool ran = false;
  std::uint64_t lost = 0;
  b1->recv(0, 3, &lost, sizeof lost, [&ran](const Status&) { ran = true; });
  b1.reset();
  auto b0 = a0->openChannel({0xb, {0, 1}}, pair.io.get_executor());
  Outcome s2, s3, r3;
  b0->send(1, 3, &value, sizeof value, s2.callback());
  value = 7;
  a0->send(1, 4, &value, sizeof value, s3.callback());
  a1->recv(0, 4, &got, sizeof got, r3.callback());
  pair.runUntil([&] { return r3.done(); });
  pair.runFor(50ms);
  CHECK_FALSE(ran);
  CHECK(lost == 0);
  CHECK(got == 7);
}
