// The TcpStore wire protocol (pure functions) and a real server with real clients on loopback.

#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include "bootstrap/store_protocol.hpp"

#include "support/ports.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <thread>

using namespace std::chrono_literals;
using banyan::ErrorCode;
using banyan::Store;
using banyan::TcpStore;
using banyan::TcpStoreServer;
namespace protocol = banyan::bootstrap::protocol;
using Clock = std::chrono::steady_clock;

namespace {

Store::Bytes bytes(const std::string& text) { return Store::Bytes(text.begin(), text.end()); }
std::string text(const Store::Bytes& data) { return std::string(data.begin(), data.end()); }

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Decodes a whole encoded request frame (length prefix included).
protocol::Request roundTrip(const protocol::Request& request) {
  const auto frame = protocol::encodeRequest(request);
  std::uint32_t length = 0;
  REQUIRE(protocol::decodeFrameLength(frame.data(), protocol::kMaxRequestBytes, length));
  REQUIRE(length == frame.size() - protocol::kHeaderBytes);
  protocol::Request decoded;
  const auto status = protocol::decodeRequest(frame.data() + 4, length, decoded);
  INFO(status.message());
  REQUIRE(status);
  return decoded;
}

// A body (no length prefix) built by hand, for frames our encoder refuses to make.
struct BodyBuilder {
  protocol::Bytes body;
  BodyBuilder& u8(std::uint8_t v) {
    body.push_back(v);
    return *this;
  }
  BodyBuilder& u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) body.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  BodyBuilder& raw(const std::string& s) {
    body.insert(body.end(), s.begin(), s.end());
    return *this;
  }
};

banyan::Status decodeBody(const protocol::Bytes& body) {
  protocol::Request request;
  return protocol::decodeRequest(body.data(), body.size(), request);
}

using banyan::test::unusedPort;

int connectRaw(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

// True when the peer closes `fd` within `timeout` (recv sees EOF or a reset).
bool closedByPeer(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  return ::recv(fd, &byte, 1, 0) <= 0;
}

}  // namespace

TEST_CASE("store protocol round-trips every request", "[store]") {
  auto set = roundTrip({protocol::Command::Set, {"addr/3"}, bytes("10.0.0.1:4000"), 0});
  CHECK(set.command == protocol::Command::Set);
  CHECK(set.keys == std::vector<std::string>{"addr/3"});
  CHECK(text(set.value) == "10.0.0.1:4000");

  auto get = roundTrip({protocol::Command::Get, {""}, {}, 0});
  CHECK(get.command == protocol::Command::Get);
  CHECK(get.keys == std::vector<std::string>{""});

  auto add = roundTrip({protocol::Command::Add, {"counter"}, {}, -1234567890123});
  CHECK(add.command == protocol::Command::Add);
  CHECK(add.delta == -1234567890123);

  auto wait = roundTrip({protocol::Command::Wait, {"a", "bb", "ccc"}, {}, 0});
  CHECK(wait.command == protocol::Command::Wait);
  CHECK(wait.keys == std::vector<std::string>{"a", "bb", "ccc"});

  auto check = roundTrip({protocol::Command::Check, {"failed/2", ""}, {}, 0});
  CHECK(check.command == protocol::Command::Check);
  CHECK(check.keys == std::vector<std::string>{"failed/2", ""});

  std::string binary("\0\1\2\xff", 4);
  auto setBinary = roundTrip({protocol::Command::Set, {binary}, bytes(binary), 0});
  CHECK(setBinary.keys[0] == binary);
  CHECK(text(setBinary.value) == binary);
}

TEST_CASE("store protocol round-trips responses", "[store]") {
  for (const auto& response : {protocol::okResponse(), protocol::okResponse(bytes("value")),
                               protocol::okResponse(protocol::encodeAddResult(-7)), protocol::errorResponse("nope")}) {
    const auto frame = protocol::encodeResponse(response);
    std::uint32_t length = 0;
    REQUIRE(protocol::decodeFrameLength(frame.data(), protocol::kMaxResponseBytes, length));
    protocol::Response decoded;
    REQUIRE(protocol::decodeResponse(frame.data() + 4, length, decoded));
    CHECK(decoded.status == response.status);
    CHECK(decoded.payload == response.payload);
  }
  // The server's Get answer: a head, then the stored value from its own buffer. On the wire it
  // must be exactly the frame encodeResponse makes.
  for (const auto& value : {bytes(""), bytes("value"), bytes(std::string(70000, 'v'))}) {
    auto frame = protocol::encodeOkResponseHead(value.size());
    frame.insert(frame.end(), value.begin(), value.end());
    CHECK(frame == protocol::encodeResponse(protocol::okResponse(value)));
  }
  for (const bool allSet : {false, true}) {
    bool decoded = !allSet;
    REQUIRE(protocol::decodeCheckResult(protocol::encodeCheckResult(allSet), decoded));
    CHECK(decoded == allSet);
  }
  bool allSet = false;
  CHECK_FALSE(protocol::decodeCheckResult({}, allSet));
  CHECK_FALSE(protocol::decodeCheckResult({2}, allSet));
  CHECK_FALSE(protocol::decodeCheckResult({1, 0}, allSet));
  std::int64_t value = 0;
  REQUIRE(protocol::decodeAddResult(protocol::encodeAddResult(INT64_MIN), value));
  CHECK(value == INT64_MIN);
  CHECK_FALSE(protocol::decodeAddResult(bytes("1234"), value));
}

TEST_CASE("store protocol rejects malformed and oversized frames", "[store]") {
  std::uint32_t length = 0;
  const std::uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  auto status = protocol::decodeFrameLength(huge, protocol::kMaxRequestBytes, length);
  CHECK_FALSE(status);
  CHECK(status.code() == ErrorCode::Remote);
  CHECK_THAT(status.message(), Catch::Contains("exceeds the limit"));
  const std::uint8_t empty[4] = {0, 0, 0, 0};
  CHECK_FALSE(protocol::decodeFrameLength(empty, protocol::kMaxRequestBytes, length));

  CHECK_FALSE(decodeBody({}));
  CHECK_THAT(decodeBody(BodyBuilder().u8(99).body).message(), Catch::Contains("unknown command"));
  // Key length larger than what follows, and larger than the bound.
  CHECK_FALSE(decodeBody(BodyBuilder().u8(2).u32(10).raw("abc").body));
  CHECK_THAT(decodeBody(BodyBuilder().u8(2).u32(1u << 20).raw("abc").body).message(),
             Catch::Contains("key of 1048576 bytes exceeds"));
  // A value length over the bound is refused before anything is copied.
  CHECK_THAT(decodeBody(BodyBuilder().u8(1).u32(1).raw("k").u32(0xfffffff0u).body).message(),
             Catch::Contains("value of"));
  // Trailing garbage after a complete request.
  CHECK_THAT(decodeBody(BodyBuilder().u8(2).u32(1).raw("kX").body).message(), Catch::Contains("trailing"));
  // Add without its delta; Wait with a key count the body cannot hold, or over the bound.
  CHECK_FALSE(decodeBody(BodyBuilder().u8(3).u32(1).raw("k").body));
  CHECK_FALSE(decodeBody(BodyBuilder().u8(4).u32(1000).u32(0).body));
  CHECK_THAT(decodeBody(BodyBuilder().u8(4).u32(0x7fffffff).body).message(), Catch::Contains("limit"));
  // Check is bounded as Wait is.
  CHECK_FALSE(decodeBody(BodyBuilder().u8(5).u32(1000).u32(0).body));
  CHECK_THAT(decodeBody(BodyBuilder().u8(5).u32(0x7fffffff).body).message(),
             Catch::Contains("check on 2147483647 keys exceeds the limit"));
  CHECK_THAT(decodeBody(BodyBuilder().u8(5).u32(1).u32(1).raw("kX").body).message(),
             Catch::Contains("trailing bytes after a check"));
  // Unknown response status.
  const std::uint8_t badStatus[1] = {7};
  protocol::Response response;
  CHECK_FALSE(protocol::decodeResponse(badStatus, 1, response));

  // The encoder refuses to build what the decoder would refuse.
  const std::string longKey(protocol::kMaxKeyBytes + 1, 'k');
  CHECK_THROWS_AS(protocol::encodeRequest({protocol::Command::Get, {longKey}, {}, 0}), banyan::Error);
  CHECK_THROWS_AS(protocol::encodeRequest(
                      {protocol::Command::Check, std::vector<std::string>(protocol::kMaxWaitKeys + 1, "k"), {}, 0}),
                  banyan::Error);
}

TEST_CASE("store server and client: set, get, add, wait", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  REQUIRE(server.port() != 0);
  TcpStore store("127.0.0.1", server.port());
  CHECK(store.localAddress().empty());

  store.set("a", bytes("alpha"), 2s);
  CHECK(text(store.get("a", 2s)) == "alpha");
  CHECK(store.localAddress() == "127.0.0.1");
  store.set("a", bytes("again"), 2s);
  CHECK(text(store.get("a", 2s)) == "again");
  store.set("empty", {}, 2s);
  CHECK(store.get("empty", 2s).empty());

  CHECK(store.add("n", 1, 2s) == 1);
  CHECK(store.add("n", 41, 2s) == 42);
  CHECK(store.add("n", -50, 2s) == -8);
  CHECK(text(store.get("n", 2s)) == "-8");  // counters read as decimal text

  store.wait({"a", "n"}, 2s);
  store.wait({}, 2s);

  // A value the server cannot count with is refused, and the connection stays usable.
  try {
    store.add("a", 1, 2s);
    FAIL("add on a non-integer value succeeded");
  } catch (const banyan::Error& e) {
    CHECK(e.code() == ErrorCode::InvalidUsage);
    CHECK_THAT(e.detail(), Catch::Contains("'a'"));
  }
  CHECK(text(store.get("a", 2s)) == "again");

  Store::Bytes large(8 << 20);
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<std::uint8_t>(i * 31);
  store.set("large", large, 5s);
  CHECK(store.get("large", 5s) == large);
}

// bootstrap::ServingStore's wait at exit counts on this: a connected client is counted until it
// closes, and the wait ends as soon as the last one has.
TEST_CASE("the server tells when its clients have left", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  CHECK(server.waitForClientsToLeave(0ms) == 0);
  auto first = std::make_unique<TcpStore>("127.0.0.1", server.port());
  auto second = std::make_unique<TcpStore>("127.0.0.1", server.port());
  first->set("k", bytes("v"), 2s);
  second->set("k", bytes("w"), 2s);
  CHECK(server.waitForClientsToLeave(50ms) == 2);
  first.reset();
  CHECK(server.waitForClientsToLeave(20ms) <= 2);
  CHECK(server.waitForClientsToLeave(5s) == 1);
  // Another thread's close wakes the wait well before its 30 s.
  std::thread closer([&] {
    std::this_thread::sleep_for(100ms);
    second.reset();
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK(server.waitForClientsToLeave(30s) == 0);
  closer.join();
  CHECK(std::chrono::steady_clock::now() - start < 20s);
}

TEST_CASE("store get blocks until another client sets the key", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  TcpStore reader("127.0.0.1", server.port());
  const auto start = Clock::now();
  std::thread writer([port = server.port()] {
    std::this_thread::sleep_for(200ms);
    TcpStore store("127.0.0.1", port);
    store.set("late", bytes("here"), 2s);
  });
  CHECK(text(reader.get("late", 5s)) == "here");
  writer.join();
  CHECK(since(start) >= 190ms);

  // wait() on several keys returns only once the last one is set.
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    TcpStore store("127.0.0.1", server.port());
    store.wait({"w1", "w2"}, 5s);
    done = true;
  });
  reader.set("w1", bytes("1"), 2s);
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(done);
  reader.add("w2", 1, 2s);
  waiter.join();
  CHECK(done);
}

TEST_CASE("store check answers at once whether keys are set, without waiting for them", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  TcpStore store("127.0.0.1", server.port());
  // A check that waited for its key would end in a Timeout after 20 s, not return false.
  CHECK_FALSE(store.check({"failed/1"}, 20s));
  CHECK(store.check({}, 20s));
  store.set("failed/1", bytes("why"), 2s);
  CHECK(store.check({"failed/1"}, 20s));
  CHECK_FALSE(store.check({"failed/1", "failed/2"}, 20s));
  store.add("failed/2", 1, 2s);
  CHECK(store.check({"failed/2", "failed/1"}, 20s));

  // Through a PrefixStore the keys are the prefixed ones.
  auto shared = std::make_shared<TcpStore>("127.0.0.1", server.port());
  banyan::PrefixStore prefixed("job", shared);
  CHECK_FALSE(prefixed.check({"failed/1"}, 20s));
  prefixed.set("failed/1", bytes("x"), 2s);
  CHECK(prefixed.check({"failed/1"}, 20s));
  CHECK(shared->check({"job/failed/1"}, 20s));

  // A get parked on the server does not hold up another client's check of the same key.
  std::thread getter([&] { CHECK(text(store.get("late", 20s)) == "here"); });
  TcpStore other("127.0.0.1", server.port());
  CHECK_FALSE(other.check({"late"}, 20s));
  other.set("late", bytes("here"), 2s);
  getter.join();
  CHECK(store.check({"late"}, 20s));

  // An unreachable server is an error within the call's bound, not an answer.
  const std::uint16_t port = unusedPort();
  TcpStore nobody("127.0.0.1", port);
  CHECK_THROWS_AS(nobody.check({"k"}, 200ms), banyan::Error);
}

TEST_CASE("store get of a missing key times out naming the key", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  TcpStore store("127.0.0.1", server.port());
  const auto start = Clock::now();
  try {
    store.get("addr/3", 300ms);
    FAIL("get of a missing key returned");
  } catch (const banyan::Error& e) {
    CHECK(e.code() == ErrorCode::Timeout);
    CHECK_THAT(e.detail(), Catch::Contains("get('addr/3')"));
    CHECK_THAT(e.detail(), Catch::Contains(fmt::format("127.0.0.1:{}", server.port())));
    CHECK_THAT(e.detail(), Catch::Contains("timed out after 300 ms"));
  }
  const auto elapsed = since(start);
  CHECK(elapsed >= 300ms);
  CHECK(elapsed < 1300ms);

  // The client reconnects after a timeout, and a late set is not confused with the old get.
  store.set("addr/3", bytes("x"), 2s);
  store.set("other", bytes("y"), 2s);
  CHECK(text(store.get("other", 2s)) == "y");
  CHECK_THROWS_AS(store.wait({"other", "never"}, 100ms), banyan::Error);
}

TEST_CASE("store client reports an unreachable server within the deadline", "[store]") {
  const std::uint16_t port = unusedPort();
  TcpStore store("127.0.0.1", port);
  const auto start = Clock::now();
  try {
    store.set("k", bytes("v"), 400ms);
    FAIL("set on an unreachable store succeeded");
  } catch (const banyan::Error& e) {
    CHECK(e.code() == ErrorCode::Timeout);
    CHECK_THAT(e.detail(), Catch::Contains(fmt::format("127.0.0.1:{}", port)));
    CHECK_THAT(e.detail(), Catch::Contains("Connection refused"));
  }
  const auto elapsed = since(start);
  CHECK(elapsed >= 400ms);
  CHECK(elapsed < 1400ms);

  TcpStore badHost("no-such-host.invalid", 1);
  CHECK_THROWS_AS(badHost.get("k", 2s), banyan::Error);
}

TEST_CASE("store client waits for a server that starts late", "[store]") {
  const std::uint16_t port = unusedPort();
  std::unique_ptr<TcpStoreServer> server;
  std::thread starter([&] {
    std::this_thread::sleep_for(300ms);
    server = std::make_unique<TcpStoreServer>("127.0.0.1", port);
  });
  TcpStore store("127.0.0.1", port);
  CHECK(store.add("early", 5, 5s) == 5);
  starter.join();
}

TEST_CASE("store server drops a client that sends garbage and keeps serving", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  TcpStore good("127.0.0.1", server.port());
  good.set("k", bytes("v"), 2s);

  // A frame declaring 4 GiB.
  int fd = connectRaw(server.port());
  const std::uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  REQUIRE(::send(fd, huge, sizeof huge, MSG_NOSIGNAL) == 4);
  CHECK(closedByPeer(fd, 2s));
  ::close(fd);

  // A well-sized frame that is not a request.
  fd = connectRaw(server.port());
  const char garbage[] = "\x05\x00\x00\x00GARBAGE";
  REQUIRE(::send(fd, garbage, 9, MSG_NOSIGNAL) == 9);
  CHECK(closedByPeer(fd, 2s));
  ::close(fd);

  // A client that vanishes while parked on a get.
  fd = connectRaw(server.port());
  const auto frame = protocol::encodeRequest({protocol::Command::Get, {"never"}, {}, 0});
  REQUIRE(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size()));
  ::close(fd);

  CHECK(text(good.get("k", 2s)) == "v");
  good.set("never", bytes("now"), 2s);
  CHECK(good.add("c", 1, 2s) == 1);
}

TEST_CASE("store calls from two threads on one client are serialised", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  TcpStore store("127.0.0.1", server.port());
  // Catch2 assertions are not thread-safe: threads record, the test thread checks.
  std::atomic<bool> blockedThrew{false};
  std::thread blocked([&] {
    try {
      store.get("missing", 600ms);
    } catch (const banyan::Error&) {
      blockedThrew = true;
    }
  });
  std::this_thread::sleep_for(100ms);
  // Queued behind the blocked get: must give up at its own deadline, not at the get's.
  const auto start = Clock::now();
  try {
    store.set("x", bytes("1"), 200ms);
  } catch (const banyan::Error& e) {
    CHECK(e.code() == ErrorCode::Timeout);
    CHECK_THAT(e.detail(), Catch::Contains("set('x')"));
  }
  CHECK(since(start) < 450ms);
  blocked.join();
  CHECK(blockedThrew);
  store.set("x", bytes("1"), 2s);
  CHECK(text(store.get("x", 2s)) == "1");
}

TEST_CASE("store server destructor returns promptly with parked clients", "[store]") {
  auto server = std::make_unique<TcpStoreServer>("127.0.0.1", 0);
  const auto port = server->port();
  std::atomic<bool> threw{false};
  std::chrono::milliseconds parkedFor{};
  std::thread parked([&] {
    TcpStore store("127.0.0.1", port);
    const auto start = Clock::now();
    try {
      store.get("never", 10s);
    } catch (const banyan::Error&) {
      threw = true;
    }
    parkedFor = since(start);
  });
  std::this_thread::sleep_for(200ms);
  const auto start = Clock::now();
  server.reset();
  CHECK(since(start) < 1s);
  parked.join();
  CHECK(threw);
  CHECK(parkedFor < 5s);
}

// A store served by a rank's process (torchrun's rank 0): once the server has answered, its
// closed connection and then its refused ones name that rank, at once and with Remote; a client
// that never reached it cannot tell "exited" from "not started" and says neither for sure.
TEST_CASE("a store served by a rank names that rank when it goes, and only then", "[store][resilience]") {
  auto server = std::make_unique<TcpStoreServer>("127.0.0.1", 0);
  const std::string address = fmt::format("127.0.0.1:{}", server->port());
  TcpStore store("127.0.0.1", server->port());
  store.setServedBy("rank 0");
  store.set("a", bytes("alpha"), 2s);
  server.reset();
  const std::string gone = "the store at " + address + ", served by rank 0's process, ";
  for (const char* event : {"closed the connection", "refuses connections it accepted before"}) {
    const auto start = Clock::now();
    try {
      store.get("a", 5s);
      FAIL("get from a store whose server is gone succeeded");
    } catch (const banyan::Error& e) {
      CHECK(e.code() == ErrorCode::Remote);
      CHECK_THAT(e.detail(), Catch::Contains(gone + event + " (rank 0 has probably exited): store get('a')"));
    }
    CHECK(since(start) < 1s);  // not the call's 5 s deadline
  }

  TcpStore neverReached("127.0.0.1", unusedPort());
  neverReached.setServedBy("rank 0");
  try {
    neverReached.get("a", 300ms);
    FAIL("get from a store nobody serves succeeded");
  } catch (const banyan::Error& e) {
    CHECK(e.code() == ErrorCode::Timeout);
    CHECK_THAT(e.detail(), Catch::Contains("has rank 0 started, or has it exited?"));
    CHECK_THAT(e.detail(), !Catch::Contains("probably exited"));
  }
}

TEST_CASE("PrefixStore keeps prefixes apart", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  auto inner = std::make_shared<TcpStore>("127.0.0.1", server.port());
  banyan::PrefixStore a("job-a", inner);
  banyan::PrefixStore b("job-b", inner);
  a.set("addr", bytes("A"), 2s);
  b.set("addr", bytes("B"), 2s);
  CHECK(text(a.get("addr", 2s)) == "A");
  CHECK(text(b.get("addr", 2s)) == "B");
  CHECK(text(inner->get("job-a/addr", 2s)) == "A");
  CHECK(a.add("n", 2, 2s) == 2);
  CHECK(b.add("n", 5, 2s) == 5);
  a.wait({"addr", "n"}, 2s);
  CHECK_THROWS_AS(a.wait({"only-in-b"}, 100ms), banyan::Error);
  b.set("only-in-b", {}, 2s);
  CHECK_THROWS_AS(a.get("only-in-b", 100ms), banyan::Error);
  CHECK_THROWS_AS(banyan::PrefixStore("p", nullptr), banyan::Error);
}

TEST_CASE("store add from many concurrent clients gives distinct results", "[store]") {
  TcpStoreServer server("127.0.0.1", 0);
  constexpr int kClients = 16;
  constexpr int kAddsEach = 50;
  std::vector<std::vector<std::int64_t>> results(kClients);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      TcpStore store("127.0.0.1", server.port());
      for (int i = 0; i < kAddsEach; ++i) results[c].push_back(store.add("counter", 1, 10s));
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::int64_t> all;
  for (const auto& r : results) all.insert(r.begin(), r.end());
  CHECK(all.size() == kClients * kAddsEach);
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == kClients * kAddsEach);
}
