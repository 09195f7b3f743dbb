#include "runtime/transport_setup.hpp"

#include "bootstrap/host_identity.hpp"
#include "transports/shm/shm_transport.hpp"
#include "transports/tcp/tcp_transport.hpp"

#include <fmt/format.h>

#include <map>

namespace banyan::runtime {
namespace {

HostLayout exchangeHosts(Store& store, const TransportParams& params, std::chrono::milliseconds timeout) {
  const std::string identity = bootstrap::hostIdentity();
  const auto key = [&](int rank) { return fmt::format("{}host/{}", params.storePrefix, rank); };
  store.set(key(params.rank), Store::Bytes(identity.begin(), identity.end()), timeout);
  HostLayout layout;
  std::map<std::string, int> hostIndex;
  layout.hostOfRank.resize(static_cast<std::size_t>(params.size));
  for (int rank = 0; rank < params.size; ++rank) {
    std::string theirs = identity;
    if (rank != params.rank) {
      const auto bytes = store.get(key(rank), timeout);
      theirs.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    auto [it, added] = hostIndex.emplace(theirs, static_cast<int>(hostIndex.size()));
    layout.hostOfRank[static_cast<std::size_t>(rank)] = it->second;
  }
  layout.hostCount = static_cast<int>(hostIndex.size());
  const int mine = layout.hostOfRank[static_cast<std::size_t>(params.rank)];
  for (int rank = 0; rank < params.size; ++rank) {
    if (layout.hostOfRank[static_cast<std::size_t>(rank)] == mine) layout.localRanks.push_back(rank);
  }
  return layout;
}

}  // namespace

TransportSetup setUpTransports(asio::io_context& io, const std::shared_ptr<Store>& store, const TransportParams& params,
                               const config::Config& config, const HostLayout* known) {
  TransportSetup setup;
  if (known != nullptr) {
    setup.layout = *known;
  } else if (params.size > 1) {
    setup.layout = exchangeHosts(*store, params, config.timeout);
  } else {
    setup.layout.hostOfRank = {0};
    setup.layout.localRanks = {params.rank};
  }
  const HostLayout& layout = setup.layout;
  if (config.transport == "shm" && layout.hostCount > 1) {
    fail(ErrorCode::InvalidUsage,
         "BANYAN_TRANSPORT=shm needs every rank on one host, but the job spans {} hosts (rank {} shares its host "
         "with {} of {} ranks)",
         layout.hostCount, params.rank, layout.localRanks.size(), params.size);
  }
  const bool useShm = config.transport != "tcp" && layout.localRanks.size() > 1;
  const std::size_t remote = static_cast<std::size_t>(params.size) - (useShm ? layout.localRanks.size() : 1);

  std::vector<std::unique_ptr<transport::Transport>> transports;
  std::vector<int> route(static_cast<std::size_t>(params.size), -1);
  std::string summary;
  if (useShm) {
    transport::shm::ShmTransportParams shm;
    shm.rank = params.rank;
    shm.size = params.size;
    shm.localRanks = layout.localRanks;
    shm.name = fmt::format("banyan-{:016x}-c{}{}", params.nonce, params.communicatorId, params.channel);
    shm.storePrefix = params.storePrefix;
    shm.probeValue = params.nonce;
    shm.crossMemoryBytes = config.crossMemoryBytes;
    shm.timeout = config.timeout;
    auto transport = std::make_unique<transport::shm::ShmTransport>(io, store, shm);
    summary = fmt::format("shm to {} rank(s) ({} by cross-memory attach from {} B)", layout.localRanks.size() - 1,
                          transport->crossMemoryPeers(), config.crossMemoryBytes);
    for (int rank : layout.localRanks) {
      if (rank != params.rank) route[static_cast<std::size_t>(rank)] = static_cast<int>(transports.size());
    }
    transports.push_back(std::move(transport));
    setup.sharedMemory = true;
  }
  if (remote > 0) {
    std::string listen = config.socketAddr;
    if (listen.empty()) listen = store->localAddress();
    if (listen.empty()) listen = "127.0.0.1";
    auto tcp = std::make_unique<transport::tcp::TcpTransport>(
        io, store,
        transport::tcp::TcpTransportParams{params.rank, params.size, params.nonce, params.storePrefix, listen,
                                           config.socketsPerPeer, config.socketBufferBytes, config.timeout});
    summary += fmt::format("{}tcp on {} to {} rank(s), {} socket(s) per peer", summary.empty() ? "" : ", ",
                           tcp->listenAddress(), remote, config.socketsPerPeer);
    for (int rank = 0; rank < params.size; ++rank) {
      if (rank != params.rank && route[static_cast<std::size_t>(rank)] < 0) {
        route[static_cast<std::size_t>(rank)] = static_cast<int>(transports.size());
      }
    }
    transports.push_back(std::move(tcp));
  }
  if (summary.empty()) summary = "no peers";
  setup.summary = std::move(summary);
  setup.transport = std::make_unique<transport::PerPeerTransport>(std::move(transports), std::move(route));
  return setup;
}

}  // namespace banyan::runtime
