#include "common/host_port.hpp"

#include <arpa/inet.h>

#include <charconv>

#include "common/status.hpp"

namespace banyan {

HostPort parseHostPort(std::string_view text, std::string_view what) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      fail(ErrorCode::InvalidUsage, "{}='{}' is not [IPv6]:port", what, text);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!isIpv6Literal(host)) {
      fail(ErrorCode::InvalidUsage, "{}='{}': '{}' in brackets is not an IPv6 address", what, text, host);
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      fail(ErrorCode::InvalidUsage, "{}='{}' is not host:port (no ':port')", what, text);
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      fail(ErrorCode::InvalidUsage, "{}='{}': write an IPv6 address in brackets, [addr]:port", what, text);
    }
  }
  if (host.empty()) fail(ErrorCode::InvalidUsage, "{}='{}' has no host", what, text);
  std::uint16_t value = 0;
  auto [ptr, err] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || err != std::errc() || ptr != port.data() + port.size() || value == 0) {
    fail(ErrorCode::InvalidUsage, "{}='{}': port '{}' is not a number in 1..65535", what, text, port);
  }
  return {std::string(host), value};
}

std::string hostPortText(std::string_view host, std::uint16_t port) {
  return host.find(':') != std::string_view::npos ? fmt::format("[{}]:{}", host, port)
                                                  : fmt::format("{}:{}", host, port);
}

bool isIpv6Literal(std::string_view host) {
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.find(']') - 1);
  const std::string bare(host.substr(0, host.find('%')));
  in6_addr address{};
  return ::inet_pton(AF_INET6, bare.c_str(), &address) == 1;
}

std::string_view familyName(std::string_view address) {
  // An IPv6 address is printed in brackets with a port, bare without; an IPv4 one has at most
  // one ':' (before its port).
  const bool v6 = (!address.empty() && address.front() == '[') || address.find(':') != address.rfind(':');
  return v6 ? "IPv6" : "IPv4";
}

void refuseLinkLocal(std::string_view host, std::string_view what) {
  if (!isIpv6Literal(host)) return;
  if (host.find('%') != std::string_view::npos) {
    fail(ErrorCode::InvalidUsage,
         "{} '{}' has a scope id: banyan does not support link-local IPv6 (the scope names an interface of this "
         "host only); use a global or unique-local (fd00::/8) address",
         what, host);
  }
  in6_addr address{};
  const std::string bare(host.front() == '[' ? host.substr(1, host.find(']') - 1) : host);
  if (::inet_pton(AF_INET6, bare.c_str(), &address) == 1 && address.s6_addr[0] == 0xfe &&
      (address.s6_addr[1] & 0xc0) == 0x80) {
    fail(ErrorCode::InvalidUsage,
         "{} '{}' is link-local (fe80::/10): banyan does not support link-local IPv6, which needs a scope id that "
         "names an interface of this host only; use a global or unique-local (fd00::/8) address",
         what, host);
  }
}

}  // namespace banyan
