#pragma once
// Runs test bodies as real ranks: forked processes that find each other through a TcpStore
// served by the test process (bootstrap::launchLocal), over loopback sockets.

#include "bootstrap/local_launcher.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

namespace banyan::test {

// Runs body(rank) in `n` processes; fails the test case with every rank's exit description
// unless all returned 0. Bodies report what went wrong on stderr before returning non-zero.
inline void runRanks(int n, const std::function<int(int rank)>& body, bootstrap::LaunchOptions options = {}) {
  if (options.environment.find("BANYAN_TIMEOUT") == options.environment.end()) {
    options.environment["BANYAN_TIMEOUT"] = "60s";
  }
  const auto exits = bootstrap::launchLocal(n, body, options);
  std::string failures;
  for (const auto& exit : exits) {
    if (!exit.ok()) failures += exit.describe() + "\n";
  }
  INFO(failures);
  CHECK(failures.empty());
}

// The ways ranks of one host can talk; multi-process tests run once per way:
//   tcp           loopback sockets (BANYAN_TRANSPORT=tcp)
//   shm-messages  the shared-memory transport under the generic schedules (BANYAN_SHM_COLLECTIVES=0)
//   shm           the default: shared-memory transport plus the direct shared-memory collectives
#define BANYAN_EACH_TRANSPORT() GENERATE(as<std::string>{}, "tcp", "shm-messages", "shm")

// The collective tests also run over libfabric (BANYAN_TRANSPORT=ofi) when banyan was built
// with it:
//   ofi-tcp      provider tcp;ofi_rxm (loopback)
//   ofi-shm      provider shm (libfabric's shared memory, manual progress)
//   ofi-sockets  provider sockets (loopback). Its progress thread makes a collective cost
//                milliseconds on this 2-core machine (a 4-rank exactness sweep: 30 s), so by
//                default it runs only in test_ofi.cpp and the 2- and 3-rank exactness sweep;
//                BANYAN_TEST_TRANSPORTS=ofi-sockets runs the whole suite over it.
// BANYAN_TEST_TRANSPORTS=ofi-tcp,ofi-shm (a test-run knob, not read by banyan) runs only those.
inline bool transportSelected(const std::string& transport) {
  const char* only = std::getenv("BANYAN_TEST_TRANSPORTS");
  if (only == nullptr || *only == '\0') return transport != "ofi-sockets";
  // Appends, not "," + ...: g++ 12 at -O3 reports a false -Wrestrict for those (GCC bug 105651).
  std::string list = ",";
  list.append(only).append(",");
  std::string item = ",";
  item.append(transport).append(",");
  return list.find(item) != std::string::npos;
}
#ifdef BANYAN_HAVE_OFI
#define BANYAN_EACH_TRANSPORT_AND_OFI()            \
  GENERATE(filter(banyan::test::transportSelected, \
                  values<std::string>({"tcp", "shm-messages", "shm", "ofi-tcp", "ofi-shm", "ofi-sockets"})))
#else
#define BANYAN_EACH_TRANSPORT_AND_OFI() BANYAN_EACH_TRANSPORT()
#endif

// The libfabric provider of an "ofi-..." variant.
inline std::string ofiProviderOf(const std::string& transport) {
  const std::string provider = transport.substr(4);
  return provider == "tcp" ? "tcp;ofi_rxm" : provider;
}

inline bootstrap::LaunchOptions over(const std::string& transport, bootstrap::LaunchOptions options = {}) {
  if (transport.rfind("ofi-", 0) == 0) {
    options.environment["BANYAN_TRANSPORT"] = "ofi";
    options.environment["BANYAN_OFI_PROVIDER"] = ofiProviderOf(transport);
    return options;
  }
  // std::string values, not char pointers: assigning a pointer here makes g++ 12 at -O3 print a
  // false -Wrestrict (GCC bug 105651) in every test that includes this file.
  using namespace std::string_literals;
  options.environment["BANYAN_TRANSPORT"] = transport == "tcp" ? "tcp"s : "shm"s;
  options.environment["BANYAN_SHM_COLLECTIVES"] = transport == "shm" ? "1"s : "0"s;
  return options;
}

// Inside a rank: records a failed expectation on stderr (the parent shows the exit code).
#define RANK_EXPECT(rank, condition, ...)                                                                       \
  do {                                                                                                          \
    if (!(condition)) {                                                                                         \
      std::fprintf(stderr, "rank %d: %s:%d: expectation failed: %s\n", (rank), __FILE__, __LINE__, #condition); \
      return 1;                                                                                                 \
    }                                                                                                           \
  } while (0)

}  // namespace banyan::test
