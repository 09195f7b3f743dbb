#include "runtime/transport_setup.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "bootstrap/host_identity.hpp"
#include "common/status.hpp"
#include "transports/transport_kind.hpp"

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

// What the transport table's kinds get to open their transports with.
transport::SetUpContext contextFor(asio::io_context& io, const std::shared_ptr<Store>& store,
                                   const TransportParams& params, const config::Config& config,
                                   const topology::HostLayout& layout) {
  std::string listen = config.socketAddr;
  if (listen.empty()) listen = store->localAddress();
  if (listen.empty()) listen = "127.0.0.1";
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
