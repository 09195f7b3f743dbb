// BANYAN_TCP_CONGESTION (transports/tcp/tcp_congestion.hpp) on real sockets of this kernel: the
// settings resolve as documented, a name the kernel does not offer is refused naming it, and
// the policy sets what it says on a connected socket and leaves alone what it should.

#include "transports/tcp/tcp_congestion.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <asio.hpp>
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "common/status.hpp"
#include "config/config.hpp"
#include "support/scoped_env.hpp"

using namespace banyan;
using namespace banyan::transport::tcp;

namespace {

std::string congestionOf(int fd) {
  char name[16] = {};
  socklen_t length = sizeof name;
  REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &length) == 0);
  return name;
}

bool offered(const std::string& name) {
  std::ifstream in("/proc/sys/net/ipv4/tcp_available_congestion_control");
  for (std::string n; in >> n;) {
    if (n == name) return true;
  }
  return false;
}

// A connected pair over loopback; the client's socket is what the policies act on.
struct Connected {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  asio::ip::tcp::socket client{io}, server{io};
  Connected() {
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  int fd() { return client.native_handle(); }
};

}  // namespace

TEST_CASE("BANYAN_TCP_CONGESTION: auto, system and names resolve; an unknown name is refused naming it",
          "[tcp-congestion]") {
  CHECK(resolveCongestion("system").mode == CongestionPolicy::Mode::Leave);
  const CongestionPolicy automatic = resolveCongestion("auto");
  if (offered("cubic")) {
    CHECK(automatic.mode == CongestionPolicy::Mode::ReplaceBbr);
    CHECK(automatic.name == "cubic");
  } else {
    CHECK(automatic.mode == CongestionPolicy::Mode::Leave);
  }
  REQUIRE(offered("reno"));  // always built into Linux
  const CongestionPolicy reno = resolveCongestion("reno");
  CHECK(reno.mode == CongestionPolicy::Mode::Force);
  CHECK(reno.describe() == "reno");
  try {
    resolveCongestion("warp9");
    FAIL("an unknown congestion control was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::InvalidUsage);
    CHECK_THAT(std::string(e.what()), Catch::Contains("BANYAN_TCP_CONGESTION=warp9") && Catch::Contains("reno"));
  }
  // The configuration refuses what cannot be a name before any kernel is asked.
  test::ScopedEnv bad("BANYAN_TCP_CONGESTION", "cubic; rm");
  CHECK_THROWS_WITH(config::resolve({}), Catch::Contains("BANYAN_TCP_CONGESTION 'cubic; rm'"));
}

TEST_CASE("BANYAN_TCP_CONGESTION: a forced name is set; auto replaces bbr alone; system touches nothing",
          "[tcp-congestion]") {
  {
    Connected pair;
    CHECK(applyCongestion(pair.fd(), resolveCongestion("reno")).empty());
    CHECK(congestionOf(pair.fd()) == "reno");
    // auto leaves a connection that is not bbr as it is.
    CHECK(applyCongestion(pair.fd(), resolveCongestion("auto")).empty());
    CHECK(congestionOf(pair.fd()) == "reno");
  }
  if (offered("bbr") && offered("cubic")) {
    Connected pair;
    REQUIRE(applyCongestion(pair.fd(), resolveCongestion("bbr")).empty());
    REQUIRE(congestionOf(pair.fd()) == "bbr");
    CHECK(applyCongestion(pair.fd(), resolveCongestion("system")).empty());
    CHECK(congestionOf(pair.fd()) == "bbr");
    CHECK(applyCongestion(pair.fd(), resolveCongestion("auto")).empty());
    CHECK(congestionOf(pair.fd()) == "cubic");
  } else {
    WARN("bbr or cubic is not offered by this kernel: the replacement of bbr is not checked here");
  }
  // A socket that is not TCP says why, for the one WARN line.
  const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
  CHECK_THAT(applyCongestion(udp, resolveCongestion("reno")), Catch::Contains("cannot set congestion control reno"));
  ::close(udp);
}
