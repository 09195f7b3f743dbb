#include "transports/tcp/tcp_congestion.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/status.hpp"

namespace banyan::transport::tcp {

namespace {

constexpr const char* kAvailable = "/proc/sys/net/ipv4/tcp_available_congestion_control";

std::vector<std::string> availableCongestion() {
  std::ifstream in(kAvailable);
  std::vector<std::string> names;
  for (std::string name; in >> name;) names.push_back(name);
  return names;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::string CongestionPolicy::describe() const {
  switch (mode) {
    case Mode::Leave:
      return "the system's";
    case Mode::ReplaceBbr:
      return fmt::format("the system's, bbr replaced by {}", name);
    case Mode::Force:
      return name;
  }
  return "?";
}

CongestionPolicy resolveCongestion(const std::string& setting) {
  CongestionPolicy policy;
  if (setting == "system") return policy;
  const std::vector<std::string> available = availableCongestion();
  if (setting == "auto") {
    if (contains(available, "cubic")) policy = {CongestionPolicy::Mode::ReplaceBbr, "cubic"};
    return policy;
  }
  if (!contains(available, setting)) {
    std::string listed;
    for (const std::string& n : available) listed += (listed.empty() ? "" : " ") + n;
    fail(ErrorCode::InvalidUsage,
         "BANYAN_TCP_CONGESTION={}: this kernel does not offer it (it offers: {}; {}); use one of those, auto or "
         "system",
         setting, listed.empty() ? "nothing readable" : listed, kAvailable);
  }
  return {CongestionPolicy::Mode::Force, setting};
}

std::string applyCongestion(int fd, const CongestionPolicy& policy) {
  if (policy.mode == CongestionPolicy::Mode::Leave) return {};
  if (policy.mode == CongestionPolicy::Mode::ReplaceBbr) {
    char current[16] = {};
    socklen_t length = sizeof current;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, current, &length) != 0) {
      return fmt::format("cannot read its congestion control: {}", std::strerror(errno));
    }
    if (std::strncmp(current, "bbr", sizeof current) != 0) return {};
  }
  if (::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, policy.name.data(), static_cast<socklen_t>(policy.name.size())) !=
      0) {
    return fmt::format("cannot set congestion control {}: {}", policy.name, std::strerror(errno));
  }
  return {};
}

}  // namespace banyan::transport::tcp
