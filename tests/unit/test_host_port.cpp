// Addresses as text (common/host_port.hpp): one spelling, brackets around IPv6, wherever banyan
// prints or parses an address.

#include <banyan/error.hpp>
#include <catch2/catch.hpp>

#include "common/host_port.hpp"

using banyan::HostPort;
using banyan::hostPortText;
using banyan::parseHostPort;

TEST_CASE("host:port parses IPv4, host names and bracketed IPv6", "[host_port]") {
  CHECK(parseHostPort("127.0.0.1:29500", "X") == HostPort{"127.0.0.1", 29500});
  CHECK(parseHostPort("node-7.cluster:1", "X") == HostPort{"node-7.cluster", 1});
  CHECK(parseHostPort("[::1]:65535", "X") == HostPort{"::1", 65535});
  CHECK(parseHostPort("[fd00:ba::2]:41234", "X") == HostPort{"fd00:ba::2", 41234});
  CHECK(parseHostPort("[::ffff:10.0.0.1]:80", "X") == HostPort{"::ffff:10.0.0.1", 80});
}

TEST_CASE("Malformed addresses are refused naming the variable and the text", "[host_port]") {
  CHECK_THROWS_WITH(parseHostPort("::1:80", "BANYAN_STORE_ADDR"),
                    Catch::Contains("BANYAN_STORE_ADDR='::1:80'") && Catch::Contains("brackets"));
  CHECK_THROWS_WITH(parseHostPort("[::1]80", "X"), Catch::Contains("[IPv6]:port"));
  CHECK_THROWS_WITH(parseHostPort("[::1", "X"), Catch::Contains("[IPv6]:port"));
  CHECK_THROWS_WITH(parseHostPort("[::1]:", "X"), Catch::Contains("port ''"));
  CHECK_THROWS_WITH(parseHostPort("[node-7]:80", "X"), Catch::Contains("not an IPv6 address"));
  CHECK_THROWS_WITH(parseHostPort("[]:80", "X"), Catch::Contains("not an IPv6 address"));
  CHECK_THROWS_WITH(parseHostPort(":80", "X"), Catch::Contains("no host"));
  CHECK_THROWS_WITH(parseHostPort("host", "X"), Catch::Contains("no ':port'"));
  CHECK_THROWS_WITH(parseHostPort("host:0", "X"), Catch::Contains("1..65535"));
  CHECK_THROWS_WITH(parseHostPort("[::1]:65536", "X"), Catch::Contains("1..65535"));
  CHECK_THROWS_AS(parseHostPort("[::1]:8x", "X"), banyan::Error);
}

TEST_CASE("Addresses print with IPv6 in brackets, and parse back", "[host_port]") {
  CHECK(hostPortText("10.213.0.1", 41234) == "10.213.0.1:41234");
  CHECK(hostPortText("fd00:ba::2", 41234) == "[fd00:ba::2]:41234");
  CHECK(hostPortText("::1", 1) == "[::1]:1");
  for (const HostPort& address : {HostPort{"::1", 7}, HostPort{"192.168.1.2", 29500}, HostPort{"fd00:ba::1", 9}}) {
    CHECK(parseHostPort(hostPortText(address.host, address.port), "X") == address);
  }
}

TEST_CASE("The family of an address as banyan prints it", "[host_port]") {
  CHECK(banyan::familyName("[::1]:80") == "IPv6");
  CHECK(banyan::familyName("fd00:ba::2") == "IPv6");
  CHECK(banyan::familyName("127.0.0.1:80") == "IPv4");
  CHECK(banyan::familyName("127.0.0.1") == "IPv4");
  CHECK(banyan::isIpv6Literal("::1"));
  CHECK(banyan::isIpv6Literal("[fd00::1]"));
  CHECK_FALSE(banyan::isIpv6Literal("127.0.0.1"));
  CHECK_FALSE(banyan::isIpv6Literal("localhost"));
}

TEST_CASE("Link-local IPv6 and scope ids are refused, naming where the address came from", "[host_port]") {
  CHECK_THROWS_WITH(banyan::refuseLinkLocal("fe80::1", "BANYAN_SOCKET_ADDR"),
                    Catch::Contains("BANYAN_SOCKET_ADDR 'fe80::1' is link-local"));
  CHECK_THROWS_WITH(banyan::refuseLinkLocal("febf::1", "X"), Catch::Contains("link-local"));
  CHECK_THROWS_WITH(banyan::refuseLinkLocal("fe80::1%eth0", "X"), Catch::Contains("scope id"));
  CHECK_NOTHROW(banyan::refuseLinkLocal("fec0::1", "X"));  // outside fe80::/10
  CHECK_NOTHROW(banyan::refuseLinkLocal("fd00:ba::1", "X"));
  CHECK_NOTHROW(banyan::refuseLinkLocal("::1", "X"));
  CHECK_NOTHROW(banyan::refuseLinkLocal("10.0.0.1", "X"));
  CHECK_NOTHROW(banyan::refuseLinkLocal("node-7", "X"));
}
