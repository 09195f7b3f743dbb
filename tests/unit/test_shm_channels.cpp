// Channels of the shared-memory transport (transport.hpp, openChannel): two real ShmTransports
// in one process (real segments, rings, doorbells and cross-memory copies, a real TcpStore on
// loopback for their exchange), driven by polling both on one event loop.

#include <banyan/tcp_store.hpp>

#include "transports/shm/shm_transport.hpp"

#include <fmt/format.h>
#include <asio.hpp>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using banyan::ErrorCode;
using banyan::Status;
using banyan::transport::ChannelSpec;
using banyan::transport::Transport;
using banyan::transport::shm::ShmTransport;
using banyan::transport::shm::ShmTransportParams;

namespace {

constexpr std::size_t kInlineLimit = 1024 * 1024;  // messages from here on go by cross-memory attach

// Two ranks of one host, each a ShmTransport (channel 0), made at once (their set-up waits
// for each other through the store).
struct Pair {
  banyan::TcpStoreServer server{"127.0.0.1", 0};
  asio::io_context io;
  std::unique_ptr<ShmTransport> rank[2];

  Pair() {
    static std::atomic<int> made{0};
    const std::string name = fmt::format("banyan-shmch{}x{}-c0", ::getpid(), made++);
    const auto make = [&](int r) {
      ShmTransportParams params;
      params.rank = r;
      params.size = 2;
      params.localRanks = {0, 1};
      params.name = name;
      params.storePrefix = name + "/";
      params.probeValue = 0x5eed;
      params.crossMemoryBytes = kInlineLimit;
      params.timeout = std::chrono::milliseconds(10000);
      auto store = std::make_shared<banyan::TcpStore>("127.0.0.1", server.port());
      return std::make_unique<ShmTransport>(io.get_executor(), store, params);
    };
    std::thread other([&] { rank[1] = make(1); });
    rank[0] = make(0);
    other.join();
  }

  std::unique_ptr<Transport> open(int r, std::uint64_t id, std::vector<int> ranks) {
    auto channel = rank[r]->openChannel(ChannelSpec{id, std::move(ranks)}, io.get_executor());
    REQUIRE(channel != nullptr);
    REQUIRE(channel->name() == "shm");
    return channel;
  }
};

// Polls `handles` (any handle makes progress for all of its transport's channels) until
// `done` holds; fails the test after 10 s.
void drive(asio::io_context& io, const std::vector<Transport*>& handles, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("the operations did not complete within 10 s");
    for (Transport* handle : handles) handle->poll();
    io.poll();
  }
}

// A few polls, for messages that should not complete anything (yet).
void spin(asio::io_context& io, const std::vector<Transport*>& handles) {
  for (int i = 0; i < 200; ++i) {
    for (Transport* handle : handles) handle->poll();
    io.poll();
  }
}

std::vector<std::uint8_t> pattern(std::size_t bytes, unsigned seed) {
  std::vector<std::uint8_t> data(bytes);
  for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<std::uint8_t>(seed * 131 + i * 7 + (i >> 12));
  return data;
}

// One operation's outcome.
struct Outcome {
  std::optional<Status> status;
  banyan::transport::Completion done() {
    return [this](const Status& s) { status = s; };
  }
  bool ok() const { return status && status->isOk(); }
};

}  // namespace

TEST_CASE("shm channels: interleaved in both directions, received in the other order", "[shm-channels]") {
  Pair pair;
  if (pair.rank[0]->crossMemoryPeers() == 0) WARN("no cross-memory attach here: the 1 MiB messages go inline");
  // A: the same ranks; B: reversed (B's rank 0 is transport rank 1).
  auto a0 = pair.open(0, 11, {0, 1}), a1 = pair.open(1, 11, {0, 1});
  auto b0 = pair.open(0, 22, {1, 0}), b1 = pair.open(1, 22, {1, 0});
  std::vector<Transport*> all{pair.rank[0].get(), pair.rank[1].get(), a0.get(), b0.get()};
  const std::vector<std::size_t> sizes{0, 8, 70 * 1024, kInlineLimit};
  struct Flow {
    Transport* from;
    int to;
    Transport* into;
    int sender;
    unsigned seed;
  };
  // Transport rank 0 -> 1 and 1 -> 0 on both channels, in channel ranks.
  const std::vector<Flow> flows{{a0.get(), 1, a1.get(), 0, 1},
                                {b0.get(), 0, b1.get(), 1, 2},
                                {a1.get(), 0, a0.get(), 1, 3},
                                {b1.get(), 1, b0.get(), 0, 4}};
  std::vector<std::vector<std::uint8_t>> sent, received;
  std::vector<Outcome> sends(flows.size() * sizes.size()), recvs(sends.size());
  for (std::size_t f = 0; f < flows.size(); ++f) {
    for (std::size_t s = 0; s < sizes.size(); ++s) {
      sent.push_back(pattern(sizes[s], flows[f].seed * 10 + static_cast<unsigned>(s)));
      received.emplace_back(sizes[s], 0);
    }
  }
  // Sent A then B, interleaved by size; received B first, then A.
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    for (std::size_t f = 0; f < flows.size(); ++f) {
      const std::size_t i = f * sizes.size() + s;
      flows[f].from->send(flows[f].to, 100 + s, sent[i].data(), sizes[s], sends[i].done());
    }
  }
  spin(pair.io, all);
  for (std::size_t f : {1, 3, 0, 2}) {
    for (std::size_t s = 0; s < sizes.size(); ++s) {
      const std::size_t i = f * sizes.size() + s;
      flows[f].into->recv(flows[f].sender, 100 + s, received[i].data(), sizes[s], recvs[i].done());
    }
  }
  drive(pair.io, all, [&] {
    for (std::size_t i = 0; i < sends.size(); ++i) {
      if (!sends[i].status || !recvs[i].status) return false;
    }
    return true;
  });
  for (std::size_t i = 0; i < sends.size(); ++i) {
    INFO("flow " << i / sizes.size() << ", " << sizes[i % sizes.size()] << " bytes");
    CHECK(sends[i].status->message() == "");
    CHECK(recvs[i].status->message() == "");
    CHECK((received[i] == sent[i]));
  }
  CHECK(a1->describePeer(0).find("rank 0 ") == 0);
  CHECK(b1->describePeer(1).find("rank 1 ") == 0);
}

TEST_CASE("shm channels: a message for a channel not yet open is kept and delivered", "[shm-channels]") {
  Pair pair;
  auto c0 = pair.open(0, 33, {0, 1});
  std::vector<Transport*> all{pair.rank[0].get(), pair.rank[1].get()};
  const auto small = pattern(8, 5), large = pattern(kInlineLimit, 6), own = pattern(16, 7);
  Outcome sentSmall, sentLarge, sentOwn, gotOwn;
  c0->send(1, 1, small.data(), small.size(), sentSmall.done());
  c0->send(1, 2, large.data(), large.size(), sentLarge.done());
  pair.rank[0]->send(1, 3, own.data(), own.size(), sentOwn.done());
  // Rank 1 waits on channel 0 only: the channel-33 messages ahead of it are taken aside, so
  // even the one lent by cross-memory attach completes on the sender.
  std::vector<std::uint8_t> ownIn(16);
  pair.rank[1]->recv(0, 3, ownIn.data(), ownIn.size(), gotOwn.done());
  drive(pair.io, all, [&] { return gotOwn.status && sentSmall.status && sentLarge.status && sentOwn.status; });
  CHECK(gotOwn.ok());
  CHECK((ownIn == own));
  CHECK(sentSmall.ok());
  CHECK(sentLarge.ok());
  auto c1 = pair.open(1, 33, {0, 1});
  std::vector<std::uint8_t> smallIn(8), largeIn(kInlineLimit);
  Outcome gotSmall, gotLarge;
  c1->recv(0, 1, smallIn.data(), smallIn.size(), gotSmall.done());
  c1->recv(0, 2, largeIn.data(), largeIn.size(), gotLarge.done());
  CHECK(!gotSmall.status);  // completions run from poll(), never inside recv()
  drive(pair.io, all, [&] { return gotSmall.status && gotLarge.status; });
  CHECK(gotSmall.ok());
  CHECK(gotLarge.ok());
  CHECK((smallIn == small));
  CHECK((largeIn == large));
}

TEST_CASE("shm channels: a mismatch fails its channel only", "[shm-channels]") {
  Pair pair;
  auto a0 = pair.open(0, 11, {0, 1}), a1 = pair.open(1, 11, {0, 1});
  auto b0 = pair.open(0, 22, {1, 0}), b1 = pair.open(1, 22, {1, 0});
  std::vector<Transport*> all{pair.rank[0].get(), pair.rank[1].get()};
  std::uint64_t word = 42, wordIn = 0;
  Outcome sentA, gotA, laterA;
  a0->send(1, 5, &word, 8, sentA.done());
  a1->recv(0, 6, &wordIn, 8, gotA.done());
  drive(pair.io, all, [&] { return gotA.status.has_value(); });
  REQUIRE(!gotA.ok());
  CHECK(gotA.status->message().find("disagree on the sequence") != std::string::npos);
  CHECK(gotA.status->mismatchPeer() == 0);
  CHECK(gotA.status->mismatchTag() == 5);
  a1->recv(0, 7, &wordIn, 8, laterA.done());  // the channel stays failed with that peer
  drive(pair.io, all, [&] { return laterA.status.has_value(); });
  CHECK(laterA.status->mismatchPeer() == 0);
  // The sender hears at once, as when a mismatch closes a connection: its receives on A fail.
  Outcome senderWaits;
  a0->recv(1, 8, &word, 8, senderWaits.done());
  drive(pair.io, all, [&] { return senderWaits.status.has_value(); });
  CHECK(senderWaits.status->message().find("closed its connection") != std::string::npos);
  // B, both ways, and the transports' own channel go on.
  std::uint64_t one = 1, two = 2, three = 3, oneIn = 0, twoIn = 0, threeIn = 0;
  Outcome s1, r1, s2, r2, s3, r3;
  b0->send(0, 9, &one, 8, s1.done());
  b1->recv(1, 9, &oneIn, 8, r1.done());
  b1->send(1, 9, &two, 8, s2.done());
  b0->recv(0, 9, &twoIn, 8, r2.done());
  pair.rank[1]->send(0, 9, &three, 8, s3.done());
  pair.rank[0]->recv(1, 9, &threeIn, 8, r3.done());
  drive(pair.io, all, [&] { return r1.status && r2.status && r3.status && s1.status && s2.status && s3.status; });
  CHECK((r1.ok() && r2.ok() && r3.ok() && s1.ok() && s2.ok() && s3.ok()));
  CHECK((oneIn == 1 && twoIn == 2 && threeIn == 3));
}

TEST_CASE("shm channels: shutting a channel down fails the peer's receives on it only", "[shm-channels]") {
  Pair pair;
  auto a0 = pair.open(0, 11, {1, 0}), a1 = pair.open(1, 11, {1, 0});
  auto b0 = pair.open(0, 22, {0, 1}), b1 = pair.open(1, 22, {0, 1});
  std::vector<Transport*> all{pair.rank[0].get(), pair.rank[1].get()};
  // 700 KiB inline: 11 slots, more than the ring holds, so the shutdown falls mid-message.
  const auto big = pattern(700 * 1024, 8);
  std::vector<std::uint8_t> bigIn(big.size());
  std::uint64_t word = 0;
  Outcome sentBig, gotBig, gotWord;
  a0->send(0, 1, big.data(), big.size(), sentBig.done());
  spin(pair.io, all);
  a0->shutdown(Status::make(ErrorCode::Aborted, "test: channel A ends"));
  drive(pair.io, all, [&] { return sentBig.status.has_value(); });
  CHECK(sentBig.status->message() == "test: channel A ends");
  Outcome sentAfter;
  a0->send(0, 2, &word, 8, sentAfter.done());
  drive(pair.io, all, [&] { return sentAfter.status.has_value(); });
  CHECK(sentAfter.status->message() == "test: channel A ends");
  a1->recv(1, 1, bigIn.data(), bigIn.size(), gotBig.done());
  a1->recv(1, 2, &word, 8, gotWord.done());
  drive(pair.io, all, [&] { return gotBig.status && gotWord.status; });
  for (const Outcome* got : {&gotBig, &gotWord}) {
    REQUIRE(!got->ok());
    CHECK(got->status->message().find("closed its connection (shut its communicator down)") != std::string::npos);
    CHECK(got->status->lostPeer() == 1);  // transport rank 0 is channel A's rank 1
  }
  std::uint64_t one = 1, oneIn = 0, two = 2, twoIn = 0;
  Outcome s1, r1, s2, r2;
  b0->send(1, 3, &one, 8, s1.done());
  b1->recv(0, 3, &oneIn, 8, r1.done());
  b1->send(0, 4, &two, 8, s2.done());
  b0->recv(1, 4, &twoIn, 8, r2.done());
  drive(pair.io, all, [&] { return s1.status && r1.status && s2.status && r2.status; });
  CHECK((s1.ok() && r1.ok() && s2.ok() && r2.ok()));
  CHECK((oneIn == 1 && twoIn == 2));
}

TEST_CASE("shm channels: the transport's own handle goes, its channels stay", "[shm-channels]") {
  Pair pair;
  auto a0 = pair.open(0, 11, {0, 1}), a1 = pair.open(1, 11, {0, 1});
  std::uint64_t word = 7, wordIn = 0, lost = 0, afterIn = 0;
  int ranAfterDestroy = 0;
  Outcome got, gotAfter;
  pair.rank[1]->recv(0, 2, &wordIn, 8, got.done());
  pair.rank[1]->recv(0, 6, &afterIn, 8, gotAfter.done());
  // Queued on rank 0's channel 0, one completion already due: none may run once it is gone.
  pair.rank[0]->send(1, 2, &word, 8, [&](const Status&) { ++ranAfterDestroy; });
  pair.rank[0]->recv(1, 3, &lost, 8, [&](const Status&) { ++ranAfterDestroy; });
  pair.rank[0].reset();
  std::vector<Transport*> all{a0.get(), pair.rank[1].get()};
  // What rank 0 sent before counts; then its channel 0 is closed.
  drive(pair.io, all, [&] { return got.status && gotAfter.status; });
  CHECK(got.ok());
  CHECK(wordIn == 7);
  REQUIRE(!gotAfter.ok());
  CHECK(gotAfter.status->message().find("closed its connection (shut its communicator down)") != std::string::npos);
  std::uint64_t one = 1, oneIn = 0, two = 2, twoIn = 0;
  Outcome s1, r1, s2, r2, toGone;
  pair.rank[1]->send(0, 3, &word, 8, toGone.done());  // for a channel closed on rank 0: discarded there
  a0->send(1, 4, &one, 8, s1.done());
  a1->recv(0, 4, &oneIn, 8, r1.done());
  a1->send(0, 5, &two, 8, s2.done());
  a0->recv(1, 5, &twoIn, 8, r2.done());
  drive(pair.io, all, [&] { return s1.status && r1.status && s2.status && r2.status; });
  CHECK((s1.ok() && r1.ok() && s2.ok() && r2.ok()));
  CHECK((oneIn == 1 && twoIn == 2));
  spin(pair.io, all);
  CHECK(ranAfterDestroy == 0);
  CHECK(lost == 0);
}

TEST_CASE("shm channels: a receiver's channel that shuts down mid-message drops the rest of it", "[shm-channels]") {
  Pair pair;
  auto a0 = pair.open(0, 11, {0, 1}), a1 = pair.open(1, 11, {0, 1});
  auto b0 = pair.open(0, 22, {0, 1}), b1 = pair.open(1, 22, {0, 1});
  // 700 KiB inline (11 slots): rank 0's send writes the first 8, rank 1's receive reads them.
  const auto big = pattern(700 * 1024, 9);
  std::vector<std::uint8_t> bigIn(big.size());
  std::uint64_t word = 5, wordIn = 0;
  Outcome sentBig, sentWord, gotBig, gotWord;
  a0->send(1, 1, big.data(), big.size(), sentBig.done());
  b0->send(1, 2, &word, 8, sentWord.done());
  a1->recv(0, 1, bigIn.data(), bigIn.size(), gotBig.done());
  pair.rank[1]->poll();  // rank 0 does not run: the message stops after its 8th slot
  CHECK(!gotBig.status);
  a1->shutdown(Status::make(ErrorCode::Aborted, "test: A ends on the receiver"));
  b1->recv(0, 2, &wordIn, 8, gotWord.done());
  std::vector<Transport*> all{pair.rank[0].get(), pair.rank[1].get()};
  drive(pair.io, all, [&] { return gotBig.status && gotWord.status && sentBig.status && sentWord.status; });
  CHECK(gotBig.status->message() == "test: A ends on the receiver");
  CHECK(sentBig.ok());  // its slots were taken (and dropped)
  CHECK((gotWord.ok() && sentWord.ok() && wordIn == 5));
}

TEST_CASE("shm channels: a peer whose whole transport closes fails every channel with it", "[shm-channels]") {
  Pair pair;
  auto a0 = pair.open(0, 11, {1, 0});
  {
    auto a1 = pair.open(1, 11, {1, 0});
    pair.rank[1].reset();  // a1 still holds rank 1's transport: only channel 0 ends there
  }                        // now the last handle: rank 1's segment says closed and rings rank 0's doorbell
  std::uint64_t ownIn = 0, aIn = 0;
  Outcome own, onA;
  pair.rank[0]->recv(1, 1, &ownIn, 8, own.done());
  a0->recv(0, 2, &aIn, 8, onA.done());
  drive(pair.io, {pair.rank[0].get()}, [&] { return own.status && onA.status; });
  CHECK(own.status->message().find("closed its connection") != std::string::npos);
  CHECK(own.status->lostPeer() == 1);
  CHECK(onA.status->message().find("closed its connection (shut its communicator down)") != std::string::npos);
  CHECK(onA.status->lostPeer() == 0);  // rank 1 is channel A's rank 0
}
