#pragma once
// Addresses as text, one spelling everywhere banyan prints or parses them: "10.0.0.1:29500",
// "node-7:29500", and an IPv6 literal in brackets, "[fd00:ba::2]:41234" (RFC 3986), so the
// last ':' is never mistaken for the port's.
//
// Link-local IPv6 addresses (fe80::/10) are refused: they mean something only with a scope id
// (an interface of this host: "fe80::1%eth0"), and the interface name a rank would publish is
// its own, not one its peers can use.

#include <cstdint>
#include <string>
#include <string_view>

namespace banyan {

struct HostPort {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port" (IPv4, host name) or "[IPv6]:port"; throws InvalidUsage naming `what`
// and the text. A bare IPv6 literal with a port ("::1:80") is refused: it is ambiguous.
HostPort parseHostPort(std::string_view text, std::string_view what);

// "host:port", or "[host]:port" when host is an IPv6 literal.
std::string hostPortText(std::string_view host, std::uint16_t port);

// True when `host` (bare or bracketed, with or without a port) is an IPv6 literal.
bool isIpv6Literal(std::string_view host);

// "IPv6" or "IPv4" for an address as banyan prints it ("[::1]:80", "127.0.0.1:80", "::1").
std::string_view familyName(std::string_view address);

// Throws InvalidUsage naming `what` when `host` is an IPv6 link-local address or carries a
// scope id ("%eth0"), neither of which another host can use.
void refuseLinkLocal(std::string_view host, std::string_view what);

}  // namespace banyan
