// [store-scale]: the store server under a job's creation at 1024 ranks (issue 19, item 2). The
// clients are tools/store_bench's (banyan-store-bench drives the same load up to 8192): real
// TcpStores on real loopback sockets, one thread each, all connecting at once.

#include "tools/store_bench/store_load.hpp"

#include <banyan/tcp_store.hpp>

#include "bootstrap/store_protocol.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace banyan;

// The clients' descriptors and the server's are all in this process: two per client.
void needDescriptors(rlim_t count) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur >= count) return;
  INFO("RLIMIT_NOFILE's hard limit " << limit.rlim_max << " is below the " << count << " descriptors this test needs");
  REQUIRE(limit.rlim_max >= count);
  limit.rlim_cur = count;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
}

// A client that asks for the combined value many times over and never reads an answer: its
// socket fills and the server's writes to it stay pending. Every other client must still be
// served (the server's one loop must not wait for this one).
int connectNonReader(std::uint16_t port, const std::string& key) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  int small = 4096;  // as little as the kernel allows, so the server's answers back up at once
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const auto get = bootstrap::protocol::encodeRequest({bootstrap::protocol::Command::Get, {key}, {}, 0});
  for (int i = 0; i < 64; ++i) {
    REQUIRE(::send(fd, get.data(), get.size(), MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(get.size()));
  }
  return fd;
}

}  // namespace

TEST_CASE("the store server serves 1024 clients creating a job at once, none refused, every value right",
          "[store-scale]") {
  constexpr int kClients = 1024;
  needDescriptors(2 * kClients + 256);
  TcpStoreServer server("127.0.0.1", 0);

  tools::StoreLoadOptions options;
  options.port = server.port();
  options.clients = kClients;
  options.pairs = 5;
  // Every call's deadline: a server that stalled (one loop waiting on one slow client, a full
  // backlog leaving clients to retry their SYNs) fails here rather than passing slowly.
  options.timeout = std::chrono::seconds(10);
  options.keyPrefix = "scale/";
  const int nonReader = connectNonReader(server.port(), options.keyPrefix + "hosts");

  const auto result = tools::runStoreLoad(options);
  ::close(nonReader);
  INFO("first failure: " << result.firstError);
  CHECK(result.failedConnections == 0);
  CHECK(result.failedRequests == 0);
  CHECK(result.wrongValues == 0);
  CHECK(result.requestsPerSecond > 0);
  // Every client is gone, so every session must go too (no connection held by a lost waiter).
  CHECK(server.waitForClientsToLeave(std::chrono::seconds(10)) == 0);
}
