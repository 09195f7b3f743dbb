#include "runtime/transport_setup.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <map>

#include "bootstrap/host_identity.hpp"
#include "common/host_port.hpp"
#include "common/status.hpp"
#include "runtime/host_gather.hpp"
#include "transports/transport_kind.hpp"

namespace banyan::runtime {
namespace {

struct HostExchange {
  topology::HostLayout layout;
  std::vector<std::string> controlAddresses;  // by rank
  std::vector<int> connectionRanks;           // by rank; empty unless every rank shares the same connections
};

// The last line of a published entry, taken off it.
std::string takeLastLine(std::string& entry, int rank) {
  const auto last = entry.rfind('\n');
  if (last == std::string::npos || last == 0) {
    fail(ErrorCode::Remote, "the store holds a malformed host identity of rank {}: it runs another version of banyan?",
         rank);
  }
  std::string line = entry.substr(last + 1);
  entry.resize(last);
  return line;
}

// "<connections id>/<rank there>", or "-" for a rank that does not share (transport.hpp, openChannel).
std::string shareText(const TransportParams& params) {
  return params.connectionRank >= 0 ? fmt::format("{:x}/{}", params.connectionsId, params.connectionRank) : "-";
}

// The ranks of the connections every member shares, or empty if any member shares none or others.
std::vector<int> sharedRanks(const std::vector<std::string>& shares, const std::string& mine) {
  std::vector<int> ranks;
  const auto slash = mine.find('/');
  if (slash == std::string::npos) return ranks;
  const std::string id = mine.substr(0, slash + 1);
  for (const auto& share : shares) {
    int rank = -1;
    if (share.compare(0, id.size(), id) != 0 ||
        std::from_chars(share.data() + id.size(), share.data() + share.size(), rank).ec != std::errc() || rank < 0) {
      return {};
    }
    ranks.push_back(rank);
  }
  return ranks;
}

HostExchange exchangeHosts(Store& store, const TransportParams& params, std::chrono::milliseconds timeout) {
  // "<host identity>\n<pid>\n<control address>\n<share>": the pid lets peers on the same host
  // watch this process's exit; the control address is where its control channel listens
  // (resilience/); the share names the family connections this rank would send through.
  const std::string identity = bootstrap::hostIdentity();
  const std::string share = shareText(params);
  const std::string published =
      fmt::format("{}\n{}\n{}\n{}", identity, static_cast<long>(::getpid()), params.controlAddress, share);
  const auto all = gatherPublished(store, params.storePrefix, params.rank, params.size, published, timeout);
  HostExchange exchange;
  topology::HostLayout& layout = exchange.layout;
  std::map<std::string, int> hostIndex;
  layout.hostOfRank.resize(static_cast<std::size_t>(params.size));
  layout.pidOfRank.resize(static_cast<std::size_t>(params.size));
  exchange.controlAddresses.resize(static_cast<std::size_t>(params.size));
  layout.pidOfRank[static_cast<std::size_t>(params.rank)] = static_cast<int>(::getpid());
  exchange.controlAddresses[static_cast<std::size_t>(params.rank)] = params.controlAddress;
  std::vector<std::string> shares(static_cast<std::size_t>(params.size), share);
  for (int rank = 0; rank < params.size; ++rank) {
    std::string theirs = identity;
    if (rank != params.rank) {
      theirs = all[static_cast<std::size_t>(rank)];
      shares[static_cast<std::size_t>(rank)] = takeLastLine(theirs, rank);
      exchange.controlAddresses[static_cast<std::size_t>(rank)] = takeLastLine(theirs, rank);
      layout.pidOfRank[static_cast<std::size_t>(rank)] = std::atoi(takeLastLine(theirs, rank).c_str());
    }
    auto [it, added] = hostIndex.emplace(theirs, static_cast<int>(hostIndex.size()));
    layout.hostOfRank[static_cast<std::size_t>(rank)] = it->second;
  }
  layout.hostCount = static_cast<int>(hostIndex.size());
  exchange.connectionRanks = sharedRanks(shares, share);
  const int mine = layout.hostOfRank[static_cast<std::size_t>(params.rank)];
  for (int rank = 0; rank < params.size; ++rank) {
    if (layout.hostOfRank[static_cast<std::size_t>(rank)] == mine) layout.localRanks.push_back(rank);
  }
  return exchange;
}

// What the transport table's kinds get to open their transports with.
transport::SetUpContext contextFor(const asio::any_io_executor& io, const std::shared_ptr<Store>& store,
                                   const TransportParams& params, const config::Config& config,
                                   const topology::HostLayout& layout) {
  std::string listen = listenAddress(*store, config);
  return transport::SetUpContext{
      .io = io,
      .store = store,
      .config = config,
      .layout = layout,
      .rank = params.rank,
      .size = params.size,
      .nonce = params.nonce,
      .communicatorId = params.communicatorId,
      .storePrefix = params.storePrefix,
      .channel = params.channel,
      .key = params.key,
      .listenAddress = std::move(listen),
      .liveness = params.liveness ? params.liveness : std::make_shared<transport::PeerLiveness>(params.size),
  };
}

}  // namespace

// The family a rank listens on and publishes is that of the address it reaches the store from
// (or of BANYAN_SOCKET_ADDR): ranks that reach one store share its family unless told otherwise,
// and a peer of the other family is still reached, through a socket of the peer's family.
std::string listenAddress(const Store& store, const config::Config& config) {
  std::string listen = config.socketAddr;
  const char* what = "BANYAN_SOCKET_ADDR";
  // "[::1]" as well as "::1": brackets are how IPv6 is written next to a port elsewhere.
  if (listen.size() > 2 && listen.front() == '[' && listen.back() == ']') listen = listen.substr(1, listen.size() - 2);
  if (listen.empty()) {
    listen = store.localAddress();
    what = "the address this rank reaches the store from (set BANYAN_SOCKET_ADDR to choose another)";
  }
  if (listen.empty()) listen = "127.0.0.1";
  refuseLinkLocal(listen, what);
  return listen;
}

TransportSetup setUpTransports(const asio::any_io_executor& io, const std::shared_ptr<Store>& store,
                               const TransportParams& params, const config::Config& config,
                               const topology::HostLayout* known) {
  TransportSetup setup;
  if (known != nullptr) {
    setup.layout = *known;
  } else if (params.size > 1) {
    auto exchange = exchangeHosts(*store, params, config.timeout);
    setup.layout = std::move(exchange.layout);
    setup.controlAddresses = std::move(exchange.controlAddresses);
    setup.connectionRanks = std::move(exchange.connectionRanks);
  } else {
    setup.layout.hostOfRank = {0};
    setup.layout.localRanks = {params.rank};
    setup.controlAddresses = {params.controlAddress};
    if (params.connectionRank >= 0) setup.connectionRanks = {params.connectionRank};
  }
  if (!setup.connectionRanks.empty()) {
    // Every member sends through its family's connections: nothing to open, and every member
    // knows it from the same published entries. Its peers on this host are watched as the
    // transports would (their exits tell a death from a close).
    setup.liveness = params.liveness ? params.liveness : std::make_shared<transport::PeerLiveness>(params.size);
    const int mine = setup.layout.hostOfRank[static_cast<std::size_t>(params.rank)];
    for (int rank = 0; rank < params.size; ++rank) {
      if (rank != params.rank && setup.layout.hostOfRank[static_cast<std::size_t>(rank)] == mine) {
        setup.liveness->watch(rank, setup.layout.pidOfRank[static_cast<std::size_t>(rank)]);
      }
    }
    setup.summary = "over its family's connections";
    return setup;
  }
  const transport::SetUpContext context = contextFor(io, store, params, config, setup.layout);
  std::vector<int> unrouted;
  for (int rank = 0; rank < params.size; ++rank) {
    if (rank != params.rank) unrouted.push_back(rank);
  }
  std::vector<std::unique_ptr<transport::Transport>> transports;
  std::vector<int> route(static_cast<std::size_t>(params.size), -1);
  std::string summary;
  // Each kind in priority order takes the peers it reaches of those no earlier one took; a kind
  // BANYAN_TRANSPORT forces is the only one offered any.
  for (const auto& kind : transport::transportTable()) {
    if (unrouted.empty()) break;
    if (!context.forced().empty() && context.forced() != kind->name()) continue;
    if (!kind->available() && context.forced() == kind->name()) {
      fail(ErrorCode::NotSupported, "BANYAN_TRANSPORT={}: this banyan was built without it", kind->name());
    }
    kind->publish(context, unrouted);
    std::vector<int> reached;
    std::vector<int> rest;
    for (int rank : unrouted) (kind->canReach(context, rank) ? reached : rest).push_back(rank);
    if (reached.empty()) continue;
    transport::OpenedTransport opened = kind->open(context, reached);
    for (int rank : reached) route[static_cast<std::size_t>(rank)] = static_cast<int>(transports.size());
    transports.push_back(std::move(opened.transport));
    summary += fmt::format("{}{}", summary.empty() ? "" : ", ", opened.summary);
    if (kind->name() == "shm") setup.sharedMemory = true;
    if (!opened.provider.empty()) setup.ofiProvider = std::move(opened.provider);
    unrouted = std::move(rest);
  }
  setup.summary = summary.empty() ? "no peers" : std::move(summary);
  setup.transport = std::make_unique<transport::PerPeerTransport>(std::move(transports), std::move(route));
  setup.liveness = context.liveness;
  return setup;
}

}  // namespace banyan::runtime
