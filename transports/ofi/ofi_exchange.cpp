#include "transports/ofi/ofi_exchange.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/status.hpp"

namespace banyan::transport::ofi {

std::string_view socketFamilyOf(const std::string& address) {
  sa_family_t family = AF_UNSPEC;
  if (address.size() >= sizeof family) std::memcpy(&family, address.data(), sizeof family);
  if (family == AF_INET && address.size() == sizeof(sockaddr_in)) return "IPv4";
  if (family == AF_INET6 && address.size() == sizeof(sockaddr_in6)) return "IPv6";
  return {};
}

std::map<int, OfiPeer> exchangeAddresses(const SetUpContext& context, const std::vector<int>& candidates,
                                         const std::string& provider, const std::string& address) {
  Store& store = *context.store;
  const auto timeout = context.config.timeout;
  const auto key = [&](int rank) { return fmt::format("{}ofi/{}", context.storePrefix, rank); };
  const std::string mine =
      provider.empty() ? std::string() : fmt::format("{}\n{}\n", provider, static_cast<long>(::getpid())) + address;
  store.set(key(context.rank), Store::Bytes(mine.begin(), mine.end()), timeout);
  std::map<int, OfiPeer> addresses;
  for (int rank : candidates) {
    const auto bytes = store.get(key(rank), timeout);
    const std::string theirs(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const auto newline = theirs.find('\n');
    const auto second = newline == std::string::npos ? std::string::npos : theirs.find('\n', newline + 1);
    const std::string theirProvider = second == std::string::npos ? std::string() : theirs.substr(0, newline);
    const std::string theirAddress = second == std::string::npos ? std::string() : theirs.substr(second + 1);
    const std::string_view family = socketFamilyOf(address);
    const std::string_view theirFamily = socketFamilyOf(theirAddress);
    if (!provider.empty() && theirProvider == provider && family != theirFamily) {
      // libfabric's tcp provider reaches a peer only through a socket of the family its own
      // endpoint was opened with.
      if (context.forced() == "ofi") {
        fail(ErrorCode::InvalidUsage,
             "BANYAN_TRANSPORT=ofi: rank {}'s libfabric endpoint is {} but rank {}'s is {}; provider '{}' does not "
             "connect across families (set BANYAN_SOCKET_ADDR on every rank to addresses of one family)",
             context.rank, family.empty() ? "not a socket address" : family, rank,
             theirFamily.empty() ? "not a socket address" : theirFamily, provider);
      }
      continue;
    }
    if (!provider.empty() && theirProvider == provider) {
      OfiPeer& peer = addresses[rank];
      peer.pid = std::atoi(theirs.substr(newline + 1, second - newline - 1).c_str());
      peer.address = theirAddress;
    } else if (context.forced() == "ofi" && !provider.empty()) {
      fail(ErrorCode::InvalidUsage,
           "BANYAN_TRANSPORT=ofi: rank {} uses libfabric provider '{}' but rank {} {} (set BANYAN_OFI_PROVIDER to one "
           "provider every rank has)",
           context.rank, provider, rank,
           theirProvider.empty() ? std::string("found none") : fmt::format("uses '{}'", theirProvider));
    }
  }
  return addresses;
}

}  // namespace banyan::transport::ofi
