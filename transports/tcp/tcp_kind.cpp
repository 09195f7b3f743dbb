// The tcp row of the transport table (transport_kind.hpp): every peer, the last resort.

#include <fmt/format.h>

#include "common/host_port.hpp"
#include "transports/tcp/tcp_transport.hpp"
#include "transports/transport_kind.hpp"

namespace banyan::transport::tcp {
namespace {

class TcpKind final : public TransportKind {
 public:
  std::string_view name() const override { return "tcp"; }
  bool available() const override { return true; }
  bool canReach(const SetUpContext& /*context*/, int /*peer*/) const override { return true; }

  OpenedTransport open(const SetUpContext& context, const std::vector<int>& peers) override {
    const config::Config& config = context.config;
    auto tcp = std::make_unique<TcpTransport>(
        context.io, context.store,
        TcpTransportParams{context.rank, context.size, context.nonce, context.storePrefix, context.listenAddress,
                           config.socketsPerPeer, config.socketBufferBytes, config.tcpCongestion, config.timeout,
                           context.key, context.liveness});
    const std::vector<int>& pids = context.layout.pidOfRank;
    for (int rank : peers) {
      // A peer on this host: its exit tells a death from a deliberate close at once.
      if (context.sameHost(rank) && static_cast<std::size_t>(rank) < pids.size()) {
        tcp->watchPeerProcess(rank, pids[static_cast<std::size_t>(rank)]);
      }
    }
    OpenedTransport opened;
    opened.summary = fmt::format("tcp over {} on {} to {} rank(s), {} socket(s) per peer, congestion control {}",
                                 familyName(tcp->listenAddress()), tcp->listenAddress(), peers.size(),
                                 config.socketsPerPeer, tcp->congestion());
    opened.transport = std::move(tcp);
    return opened;
  }
};

}  // namespace

std::unique_ptr<TransportKind> makeTcpKind() { return std::make_unique<TcpKind>(); }

}  // namespace banyan::transport::tcp
