#include "runtime/transport_setup.hpp"

#include "bootstrap/host_identity.hpp"
#include "common/log.hpp"
#include "transports/shm/shm_transport.hpp"
#include "transports/tcp/tcp_transport.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <map>

#ifdef BANYAN_HAVE_OFI
#include "transports/ofi/ofi_transport.hpp"
#endif

namespace banyan::runtime {
namespace {

topology::HostLayout exchangeHosts(Store& store, const TransportParams& params, std::chrono::milliseconds timeout) {
  // "<host identity>\n<pid>": the pid lets peers on the same host watch this process's exit.
  const std::string identity = bootstrap::hostIdentity();
  const std::string published = fmt::format("{}\n{}", identity, static_cast<long>(::getpid()));
  const auto key = [&](int rank) { return fmt::format("{}host/{}", params.storePrefix, rank); };
  store.set(key(params.rank), Store::Bytes(published.begin(), published.end()), timeout);
  topology::HostLayout layout;
  std::map<std::string, int> hostIndex;
  layout.hostOfRank.resize(static_cast<std::size_t>(params.size));
  layout.pidOfRank.resize(static_cast<std::size_t>(params.size));
  layout.pidOfRank[static_cast<std::size_t>(params.rank)] = static_cast<int>(::getpid());
  for (int rank = 0; rank < params.size; ++rank) {
    std::string theirs = identity;
    if (rank != params.rank) {
      const auto bytes = store.get(key(rank), timeout);
      theirs.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      if (const auto newline = theirs.rfind('\n'); newline != std::string::npos) {
        layout.pidOfRank[static_cast<std::size_t>(rank)] = std::atoi(theirs.c_str() + newline + 1);
        theirs.resize(newline);
      }
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

// Every rank that may use libfabric publishes "<provider>\n<pid>\n<address>" ("" without a
// provider) and reads the candidates'; a pair uses ofi when both name the same provider. The
// process id lets a peer on the same host watch for its exit (transports/ofi/peer_liveness.hpp).
struct OfiPeer {
  std::string address;
  int pid = 0;
};

std::map<int, OfiPeer> exchangeOfiAddresses(Store& store, const TransportParams& params,
                                                const std::vector<int>& candidates, const std::string& provider,
                                                const std::string& address, bool forced,
                                                std::chrono::milliseconds timeout) {
  const auto key = [&](int rank) { return fmt::format("{}ofi/{}", params.storePrefix, rank); };
  const std::string mine =
      provider.empty() ? std::string() : fmt::format("{}\n{}\n", provider, static_cast<long>(::getpid())) + address;
  store.set(key(params.rank), Store::Bytes(mine.begin(), mine.end()), timeout);
  std::map<int, OfiPeer> addresses;
  for (int rank : candidates) {
    const auto bytes = store.get(key(rank), timeout);
    const std::string theirs(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const auto newline = theirs.find('\n');
    const auto second = newline == std::string::npos ? std::string::npos : theirs.find('\n', newline + 1);
    const std::string theirProvider = second == std::string::npos ? std::string() : theirs.substr(0, newline);
    if (!provider.empty() && theirProvider == provider) {
      OfiPeer& peer = addresses[rank];
      peer.pid = std::atoi(theirs.substr(newline + 1, second - newline - 1).c_str());
      peer.address = theirs.substr(second + 1);
    } else if (forced) {
      fail(ErrorCode::InvalidUsage,
           "BANYAN_TRANSPORT=ofi: rank {} uses libfabric provider '{}' but rank {} {} (set BANYAN_OFI_PROVIDER to one "
           "provider every rank has)",
           params.rank, provider, rank,
           theirProvider.empty() ? std::string("found none") : fmt::format("uses '{}'", theirProvider));
    }
  }
  return addresses;
}

// Each rank says it has inserted its ofi peers' addresses, then waits until its peers have.
template <typename Peers>
void awaitOfiConnected(Store& store, const TransportParams& params, const Peers& peers,
                       std::chrono::milliseconds timeout) {
  const auto key = [&](int rank) { return fmt::format("{}ofi-connected/{}", params.storePrefix, rank); };
  store.set(key(params.rank), Store::Bytes{std::uint8_t{1}}, timeout);
  for (const auto& entry : peers) store.get(key(entry.first), timeout);
}

}  // namespace

TransportSetup setUpTransports(asio::io_context& io, const std::shared_ptr<Store>& store, const TransportParams& params,
                               const config::Config& config, const topology::HostLayout* known) {
  TransportSetup setup;
  if (known != nullptr) {
    setup.layout = *known;
  } else if (params.size > 1) {
    setup.layout = exchangeHosts(*store, params, config.timeout);
  } else {
    setup.layout.hostOfRank = {0};
    setup.layout.localRanks = {params.rank};
  }
  const topology::HostLayout& layout = setup.layout;
  if (config.transport == "shm" && layout.hostCount > 1) {
    fail(ErrorCode::InvalidUsage,
         "BANYAN_TRANSPORT=shm needs every rank on one host, but the job spans {} hosts (rank {} shares its host "
         "with {} of {} ranks)",
         layout.hostCount, params.rank, layout.localRanks.size(), params.size);
  }
  const bool forcedOfi = config.transport == "ofi";
  const bool useShm = config.transport != "tcp" && !forcedOfi && layout.localRanks.size() > 1;
  std::size_t remote = static_cast<std::size_t>(params.size) - (useShm ? layout.localRanks.size() : 1);

  std::vector<std::unique_ptr<transport::Transport>> transports;
  std::vector<int> route(static_cast<std::size_t>(params.size), -1);
  std::string summary;
  std::string listen = config.socketAddr;
  if (listen.empty()) listen = store->localAddress();
  if (listen.empty()) listen = "127.0.0.1";
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
  // libfabric: every peer when forced; in auto mode the peers on other hosts (never the
  // peers of a job that forces tcp or shm).
  std::vector<int> ofiCandidates;
  if (forcedOfi || (config.transport == "auto" && remote > 0)) {
    for (int rank = 0; rank < params.size; ++rank) {
      if (rank != params.rank && route[static_cast<std::size_t>(rank)] < 0) ofiCandidates.push_back(rank);
    }
  }
  if (!ofiCandidates.empty()) {
#ifdef BANYAN_HAVE_OFI
    transport::ofi::InfoPtr info;
    try {
      info = transport::ofi::chooseProvider({config.ofiProvider, forcedOfi, listen});
    } catch (const Error& error) {
      // Asked for (forced or named): the error is the answer. Merely looking for a fabric: a
      // libfabric that fails to enumerate its providers must not stop a job TCP can carry.
      if (forcedOfi || !config.ofiProvider.empty()) throw;
      log::warn(params.rank, "ofi: looking for a fabric failed, using TCP between hosts: {}", error.what());
    }
    if (!info && forcedOfi) {
      fail(ErrorCode::NotSupported,
           "BANYAN_TRANSPORT=ofi: no libfabric provider here offers reliable-datagram endpoints with tagged messages");
    }
    std::unique_ptr<transport::ofi::OfiTransport> ofi;
    if (info) {
      transport::ofi::OfiTransportParams p;
      p.rank = params.rank;
      p.size = params.size;
      // Over libfabric's shm, RMA writes are a cross-memory copy like its tagged messages, so
      // RMA is opt-in there (docs/ofi.md, "Three shm bugs": the 4+ rank failure once given as
      // the reason was a completion fault, worked around in the transport).
      p.rmaBytes =
          !config.ofiRmaBytesSet && std::string(info->fabric_attr->prov_name) == "shm" ? 0 : config.ofiRmaBytes;
      p.notify = config.ofiRmaByMessage ? transport::ofi::RmaNotify::Message : transport::ofi::RmaNotify::CqData;
      p.registrationCache = config.ofiRegistrationCache;
      p.timeout = config.timeout;
      // Strangers are kept out where the job is authenticated (transports/ofi/membership.hpp).
      p.key = params.key;
      ofi = std::make_unique<transport::ofi::OfiTransport>(io, std::move(info), p);
    }
    const auto addresses = exchangeOfiAddresses(*store, params, ofiCandidates, ofi ? ofi->providerName() : "",
                                                ofi ? ofi->address() : "", forcedOfi, config.timeout);
    if (ofi && !addresses.empty()) {
      std::map<int, std::string> endpoints;
      for (const auto& [rank, peer] : addresses) endpoints[rank] = peer.address;
      ofi->connect(endpoints);
      // Directed receives match only addresses already in the address vector: no peer may send
      // here before this rank has inserted them all, or its first messages could be kept as
      // from an unknown source (transports/ofi/membership.hpp).
      if (params.key) awaitOfiConnected(*store, params, addresses, config.timeout);
      const int myHost = layout.hostOfRank[static_cast<std::size_t>(params.rank)];
      for (const auto& [rank, peer] : addresses) {
        if (layout.hostOfRank[static_cast<std::size_t>(rank)] == myHost) ofi->watchPeerProcess(rank, peer.pid);
      }
      setup.ofiProvider = ofi->providerDescription();
      log::info(params.rank, "ofi: {}", setup.ofiProvider);
      summary +=
          fmt::format("{}ofi ({}) to {} rank(s)", summary.empty() ? "" : ", ", ofi->providerName(), addresses.size());
      for (const auto& [rank, address] : addresses)
        route[static_cast<std::size_t>(rank)] = static_cast<int>(transports.size());
      remote -= addresses.size();
      transports.push_back(std::move(ofi));
    }
#else
    // Peers built with libfabric read this rank's choice: none.
    exchangeOfiAddresses(*store, params, ofiCandidates, "", "", false, config.timeout);
#endif
  }
  if (remote > 0) {
    auto tcp = std::make_unique<transport::tcp::TcpTransport>(
        io, store,
        transport::tcp::TcpTransportParams{params.rank, params.size, params.nonce, params.storePrefix, listen,
                                           config.socketsPerPeer, config.socketBufferBytes, config.timeout,
                                           params.key});
    summary += fmt::format("{}tcp on {} to {} rank(s), {} socket(s) per peer", summary.empty() ? "" : ", ",
                           tcp->listenAddress(), remote, config.socketsPerPeer);
    const int myHost = layout.hostOfRank[static_cast<std::size_t>(params.rank)];
    for (int rank = 0; rank < params.size; ++rank) {
      if (rank != params.rank && route[static_cast<std::size_t>(rank)] < 0) {
        route[static_cast<std::size_t>(rank)] = static_cast<int>(transports.size());
        // A peer on this host: its exit tells a death from a deliberate close at once.
        if (layout.hostOfRank[static_cast<std::size_t>(rank)] == myHost &&
            static_cast<std::size_t>(rank) < layout.pidOfRank.size()) {
          tcp->watchPeerProcess(rank, layout.pidOfRank[static_cast<std::size_t>(rank)]);
        }
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
