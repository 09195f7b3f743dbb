#include "bootstrap/store_roots_environment.hpp"

#include <banyan/tcp_store.hpp>

#include "bootstrap/environment.hpp"
#include "bootstrap/serving_store.hpp"
#include "bootstrap/store_roots.hpp"
#include "common/host_port.hpp"
#include "common/status.hpp"

#include <fmt/format.h>

#include <cstdlib>

namespace banyan::bootstrap {

std::vector<std::pair<std::string, std::uint16_t>> parseStoreRoots(const std::string& text) {
  std::vector<std::pair<std::string, std::uint16_t>> roots;
  std::size_t at = 0;
  for (int entry = 1;; ++entry) {
    const std::size_t comma = text.find(',', at);
    const std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (item.empty()) {
      fail(ErrorCode::InvalidUsage, "BANYAN_STORE_ROOTS='{}': entry {} is empty (expected host:port,host:port,...)",
           text, entry);
    }
    const std::string what = fmt::format("BANYAN_STORE_ROOTS entry {} ('{}')", entry, item);
    roots.push_back(parseHostPort(item, what.c_str()));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return roots;
}

int rootLeader(int root, int roots, int size) {
  return static_cast<int>((static_cast<long long>(root) * size + roots - 1) / roots);
}

namespace {

// This rank leads `root` and the entry names its host: it serves the root, as rank 0 serves
// MASTER_ADDR:MASTER_PORT (environment.cpp).
std::shared_ptr<Store> serveRoot(const std::string& host, std::uint16_t port, const std::string& name) {
  const std::string bindHost = isLocalAddress(host) ? host : isIpv6Literal(host) ? "::" : "0.0.0.0";
  std::unique_ptr<TcpStoreServer> server;
  try {
    server = std::make_unique<TcpStoreServer>(bindHost, port);
  } catch (const Error& e) {
    fail(e.code(), "this rank leads {} and cannot serve it (is the port taken?): {}", name, e.detail());
  }
  return std::make_shared<ServingStore>(std::move(server), host);
}

}  // namespace

std::shared_ptr<Store> withStoreRoots(std::shared_ptr<Store> jobStore, int rank, int size) {
  const char* value = std::getenv("BANYAN_STORE_ROOTS");
  if (value == nullptr || *value == '\0') return jobStore;
  const auto entries = parseStoreRoots(value);
  const int count = static_cast<int>(entries.size()) + 1;
  if (count > size) {
    fail(ErrorCode::InvalidUsage,
         "BANYAN_STORE_ROOTS='{}' names {} roots besides the job's store: {} in all for {} ranks "
         "(at most one root per rank)",
         value, entries.size(), count, size);
  }
  std::vector<std::shared_ptr<Store>> roots{std::move(jobStore)};
  std::vector<std::string> names{""};
  for (int j = 1; j < count; ++j) {
    const auto& [host, port] = entries[static_cast<std::size_t>(j - 1)];
    names.push_back(fmt::format("BANYAN_STORE_ROOTS entry {}, '{}'", j, hostPortText(host, port)));
    const bool leads = rootLeader(j, count, size) == rank;
    roots.push_back(leads && isLocalAddress(host) ? serveRoot(host, port, names.back())
                                                  : std::make_shared<TcpStore>(host, port));
  }
  return std::make_shared<MultiRootStore>(std::move(roots), rank, size, std::move(names));
}

}  // namespace banyan::bootstrap
