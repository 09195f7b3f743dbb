#include "bootstrap/host_address.hpp"

#include "common/status.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace banyan::bootstrap {

namespace {

std::string firstInterfaceAddress() {
  ifaddrs* interfaces = nullptr;
  if (::getifaddrs(&interfaces) != 0) return {};
  std::string chosen;
  for (ifaddrs* i = interfaces; i != nullptr && chosen.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    chosen = text;
  }
  ::freeifaddrs(interfaces);
  return chosen;
}

std::string firstResolvedAddress(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  if (::getaddrinfo(name.c_str(), nullptr, &hints, &addresses) != 0) return {};
  std::string chosen;
  for (addrinfo* a = addresses; a != nullptr && chosen.empty(); a = a->ai_next) {
    const auto& in = reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr;
    if ((ntohl(in.s_addr) >> 24) == 127) continue;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &in, text, sizeof text);
    chosen = text;
  }
  ::freeaddrinfo(addresses);
  return chosen;
}

}  // namespace

std::string localHostName() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) {
    fail(ErrorCode::System, "gethostname: {}", errnoText(errno));
  }
  return name.data();
}

std::string advertisedAddress() {
  const std::string name = localHostName();
  std::string chosen = firstResolvedAddress(name);
  if (chosen.empty()) chosen = firstInterfaceAddress();
  return chosen.empty() ? name : chosen;
}

}  // namespace banyan::bootstrap
