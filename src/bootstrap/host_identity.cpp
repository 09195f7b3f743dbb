#include "bootstrap/host_identity.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace banyan::bootstrap {

std::string hostIdentity() {
  if (const char* forced = std::getenv("BANYAN_HOST_ID"); forced != nullptr && *forced != '\0') return forced;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string bootId;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> bootId;
  return std::string(host) + "/" + bootId;
}

}  // namespace banyan::bootstrap
