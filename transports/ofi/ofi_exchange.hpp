#pragma once
// The ofi row's facts in the store, shared by libbanyan (a rank that does not load the module
// still answers its peers) and the module (a rank with an endpoint). Every rank offered peers
// publishes "<provider>\n<pid>\n<address>" ("" without a provider) and reads the candidates';
// a pair uses ofi when both name the same provider. The process id lets a peer on the same
// host watch for its exit (ofi_liveness.hpp).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "transports/transport_kind.hpp"

namespace banyan::transport::ofi {

struct OfiPeer {
  std::string address;
  int pid = 0;
};

// Publishes this rank's provider and address, reads every candidate's, and returns those that
// named the same provider. With BANYAN_TRANSPORT=ofi a candidate that named another provider
// (or none) is an InvalidUsage error naming both.
// "IPv4" or "IPv6" for an endpoint address that is a socket address (tcp;ofi_rxm, sockets,
// verbs: FI_SOCKADDR_IN/IN6), "" for any other format (shm's names, efa's GIDs).
std::string_view socketFamilyOf(const std::string& address);

// A pair whose socket addresses are of different families (ranks told to listen on different
// families by BANYAN_SOCKET_ADDR) is left to TCP, or with BANYAN_TRANSPORT=ofi refused.
std::map<int, OfiPeer> exchangeAddresses(const SetUpContext& context, const std::vector<int>& candidates,
                                         const std::string& provider, const std::string& address);

}  // namespace banyan::transport::ofi
