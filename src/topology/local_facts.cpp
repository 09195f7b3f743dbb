#include "topology/local_facts.hpp"

#include <arpa/inet.h>
#include <hwloc.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <vector>

namespace banyan::topology {

namespace {

void countWithHwloc(LocalFacts& facts) {
  hwloc_topology_t topology = nullptr;
  if (hwloc_topology_init(&topology) != 0) return;
  if (hwloc_topology_load(topology) == 0) {
    facts.cores = std::max(0, hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_CORE));
    facts.numaNodes = std::max(0, hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_NUMANODE));
  }
  hwloc_topology_destroy(topology);
}

// Asks the driver (ethtool) rather than /sys/class/net/IF/speed: sysfs shows the network
// namespace it was mounted in, which is not this process's inside a container or netns.
int interfaceSpeedMbps(const std::string& nic) {
  if (nic.empty() || nic.size() >= IFNAMSIZ) return 0;
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return 0;
  ethtool_cmd command{};
  command.cmd = ETHTOOL_GSET;
  ifreq request{};
  std::memcpy(request.ifr_name, nic.c_str(), nic.size());
  request.ifr_data = reinterpret_cast<char*>(&command);
  const int rc = ::ioctl(fd, SIOCETHTOOL, &request);
  ::close(fd);
  if (rc != 0) return 0;
  const std::uint32_t speed = ethtool_cmd_speed(&command);
  return speed == 0 || speed == static_cast<std::uint32_t>(SPEED_UNKNOWN) || speed > 10'000'000
             ? 0
             : static_cast<int>(speed);
}

}  // namespace

std::string interfaceOf(const std::string& address) {
  // The listen address of either family: IPv4 "10.0.0.1" or IPv6 "fd00:ba::2".
  in_addr wanted4{};
  in6_addr wanted6{};
  const bool v4 = !address.empty() && ::inet_pton(AF_INET, address.c_str(), &wanted4) == 1;
  const bool v6 = !v4 && !address.empty() && ::inet_pton(AF_INET6, address.c_str(), &wanted6) == 1;
  if (!v4 && !v6) return {};
  ifaddrs* interfaces = nullptr;
  if (::getifaddrs(&interfaces) != 0) return {};
  std::string name;
  for (ifaddrs* i = interfaces; i != nullptr && name.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (v4 && i->ifa_addr->sa_family == AF_INET &&
        reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr == wanted4.s_addr) {
      name = i->ifa_name;
    }
    if (v6 && i->ifa_addr->sa_family == AF_INET6 &&
        std::memcmp(&reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, &wanted6, sizeof wanted6) == 0) {
      name = i->ifa_name;
    }
  }
  ::freeifaddrs(interfaces);
  return name;
}

LocalFacts localFacts(const std::string& address) {
  LocalFacts facts;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  facts.hostName = host;
  countWithHwloc(facts);
  facts.nic = interfaceOf(address);
  facts.nicMbps = interfaceSpeedMbps(facts.nic);
  return facts;
}

double measureMemoryBandwidth() {
  // 8 MiB each way: past most per-core caches, yet a few ms even on a loaded machine (the
  // probe runs inside communicator creation, under its timeout).
  constexpr std::size_t kBytes = 8u << 20;
  std::vector<char> from(kBytes, 1), to(kBytes, 0);
  double best = 0;
  for (int round = 0; round < 2; ++round) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(to.data(), from.data(), kBytes);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    // Keep the best round: a busy machine only ever slows a round down.
    if (took.count() > 0) best = std::max(best, static_cast<double>(kBytes) / took.count() / 1e6);
    from[static_cast<std::size_t>(round)] = to[kBytes - 1];  // the copies are not dead code
  }
  return best;
}

}  // namespace banyan::topology
