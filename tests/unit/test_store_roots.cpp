// Several store roots (bootstrap/store_roots.hpp; docs/launchers.md, "Several store roots"):
// where each kind of key lives, over real TcpStoreServers on loopback, and what a bad
// BANYAN_STORE_ROOTS says.

#include <banyan/error.hpp>
#include <banyan/tcp_store.hpp>

#include "bootstrap/store_roots.hpp"
#include "bootstrap/store_roots_environment.hpp"
#include "support/ports.hpp"
#include "support/scoped_env.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using banyan::Error;
using banyan::Store;
using banyan::TcpStore;
using banyan::TcpStoreServer;
using banyan::bootstrap::MultiRootStore;

namespace {

Store::Bytes bytes(const std::string& text) { return Store::Bytes(text.begin(), text.end()); }

struct Roots {
  std::vector<std::unique_ptr<TcpStoreServer>> servers;
  std::vector<std::shared_ptr<TcpStore>> direct;  // a plain client of each root, to look inside
  explicit Roots(int count) {
    for (int j = 0; j < count; ++j) {
      servers.push_back(std::make_unique<TcpStoreServer>("127.0.0.1", 0));
      direct.push_back(std::make_shared<TcpStore>("127.0.0.1", servers.back()->port()));
    }
  }
  MultiRootStore storeOf(int rank, int size) {
    std::vector<std::shared_ptr<Store>> clients;
    for (const auto& server : servers) clients.push_back(std::make_shared<TcpStore>("127.0.0.1", server->port()));
    return MultiRootStore(std::move(clients), rank, size);
  }
  // Which roots hold `key`.
  std::vector<int> holding(const std::string& key) {
    std::vector<int> roots;
    for (std::size_t j = 0; j < direct.size(); ++j) {
      if (direct[j]->check({key}, 2s)) roots.push_back(static_cast<int>(j));
    }
    return roots;
  }
};

}  // namespace

TEST_CASE("store roots: blocks of consecutive ranks, leaders first of each", "[store][roots]") {
  Roots roots(3);
  auto store = roots.storeOf(0, 8);
  CHECK(store.rootCount() == 3);
  std::vector<int> of;
  for (int rank = 0; rank < 8; ++rank) of.push_back(store.rootOf(rank));
  CHECK(of == std::vector<int>{0, 0, 0, 1, 1, 1, 2, 2});
  for (int j = 0; j < 3; ++j) CHECK(store.rootOf(banyan::bootstrap::rootLeader(j, 3, 8)) == j);
  CHECK(banyan::bootstrap::rootLeader(1, 3, 8) == 3);
  CHECK(banyan::bootstrap::rootLeader(2, 3, 8) == 6);
}

TEST_CASE("store roots: a rank's keys on its root, published keys on every root, the rest on root 0",
          "[store][roots]") {
  Roots roots(3);
  auto writer = roots.storeOf(7, 8);  // root 2
  writer.set("c/host/@7", bytes("seven"), 2s);
  writer.set("c/host/@1", bytes("one"), 2s);  // another rank's key: on that rank's root
  writer.set("c/*hosts", bytes("all"), 2s);
  writer.set("c/counter-like", bytes("x"), 2s);
  CHECK(roots.holding("c/host/@7") == std::vector<int>{2});
  CHECK(roots.holding("c/host/@1") == std::vector<int>{0});
  CHECK(roots.holding("c/*hosts") == std::vector<int>{0, 1, 2});
  CHECK(roots.holding("c/counter-like") == std::vector<int>{0});
  CHECK(writer.requestsPerRoot() == std::vector<std::uint64_t>{3, 1, 2});

  auto reader = roots.storeOf(4, 8);  // root 1
  CHECK(reader.get("c/host/@7", 2s) == bytes("seven"));
  CHECK(reader.get("c/*hosts", 2s) == bytes("all"));
  reader.wait({"c/host/@7", "c/host/@1", "c/*hosts", "c/counter-like"}, 2s);
  CHECK(reader.check({"c/host/@7", "c/host/@1"}, 2s));
  CHECK_FALSE(reader.check({"c/host/@7", "c/host/@5"}, 2s));
  CHECK(reader.add("c/count", 2, 2s) == 2);
  CHECK(roots.holding("c/count") == std::vector<int>{0});
  CHECK_THROWS_AS(reader.add("c/*count", 1, 2s), Error);
  // A wait on keys of several roots keeps one deadline.
  CHECK_THROWS_AS(reader.wait({"c/host/@7", "c/host/@6"}, 300ms), Error);
}

TEST_CASE("store roots: a bad BANYAN_STORE_ROOTS names the entry", "[store][roots]") {
  using banyan::bootstrap::parseStoreRoots;
  const auto message = [](const std::string& text) {
    try {
      parseStoreRoots(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(parseStoreRoots("127.0.0.1:4000,node2:4001").size() == 2);
  CHECK_THAT(message("127.0.0.1:4000,,node2:4001"), Catch::Contains("entry 2 is empty"));
  CHECK_THAT(message("127.0.0.1:4000,"), Catch::Contains("entry 2 is empty"));
  CHECK_THAT(message("127.0.0.1:99999"), Catch::Contains("BANYAN_STORE_ROOTS entry 1 ('127.0.0.1:99999')"));
  CHECK_THAT(message("a:1,node2"), Catch::Contains("BANYAN_STORE_ROOTS entry 2 ('node2')"));
  CHECK_THAT(message("a:1,b:x"), Catch::Contains("BANYAN_STORE_ROOTS entry 2 ('b:x')"));

  auto job = std::make_shared<TcpStore>("127.0.0.1", 1);
  banyan::test::ScopedEnv three("BANYAN_STORE_ROOTS", "127.0.0.1:4000,127.0.0.1:4001");
  CHECK_THROWS_WITH(banyan::bootstrap::withStoreRoots(job, 0, 2), Catch::Contains("at most one root per rank"));
}

TEST_CASE("store roots: an unreachable root is named in the error", "[store][roots]") {
  TcpStoreServer server("127.0.0.1", 0);
  auto job = std::make_shared<TcpStore>("127.0.0.1", server.port());
  const std::string entry = fmt::format("127.0.0.1:{}", banyan::test::unusedPort());
  banyan::test::ScopedEnv roots("BANYAN_STORE_ROOTS", entry.c_str());
  auto store = banyan::bootstrap::withStoreRoots(job, 0, 2);  // rank 1 leads root 1, not this one
  try {
    store->set("c/*nonce", bytes("1"), 500ms);
    FAIL("the set reached a root nobody serves");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()),
               Catch::Contains(fmt::format("store root 1 (BANYAN_STORE_ROOTS entry 1, '{}')", entry)));
  }
}
