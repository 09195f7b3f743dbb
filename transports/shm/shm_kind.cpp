// The shm row of the transport table (transport_kind.hpp): ranks of one host.

#include <fmt/format.h>

#include "common/status.hpp"
#include "transports/shm/segment.hpp"
#include "transports/shm/shm_transport.hpp"
#include "transports/transport_kind.hpp"

namespace banyan::transport::shm {
namespace {

class ShmKind final : public TransportKind {
 public:
  std::string_view name() const override { return "shm"; }
  bool available() const override { return true; }

  void publish(const SetUpContext& context, const std::vector<int>& /*candidates*/) override {
    const topology::HostLayout& layout = context.layout;
    if (context.forced() == "shm" && layout.hostCount > 1) {
      fail(ErrorCode::InvalidUsage,
           "BANYAN_TRANSPORT=shm needs every rank on one host, but the job spans {} hosts (rank {} shares its host "
           "with {} of {} ranks)",
           layout.hostCount, context.rank, layout.localRanks.size(), context.size);
    }
  }

  bool canReach(const SetUpContext& context, int peer) const override { return context.sameHost(peer); }

  OpenedTransport open(const SetUpContext& context, const std::vector<int>& /*peers*/) override {
    ShmTransportParams shm;
    shm.rank = context.rank;
    shm.size = context.size;
    shm.localRanks = context.layout.localRanks;
    shm.name = communicatorSegmentName(context.nonce, context.communicatorId, context.channel);
    shm.storePrefix = context.storePrefix;
    shm.probeValue = context.nonce;
    shm.crossMemoryBytes = context.config.crossMemoryBytes;
    shm.timeout = context.config.timeout;
    shm.liveness = context.liveness;
    auto transport = std::make_unique<ShmTransport>(context.io, context.store, shm);
    OpenedTransport opened;
    opened.summary =
        fmt::format("shm to {} rank(s) ({} by cross-memory attach from {} B)", context.layout.localRanks.size() - 1,
                    transport->crossMemoryPeers(), context.config.crossMemoryBytes);
    opened.transport = std::move(transport);
    return opened;
  }
};

}  // namespace

std::unique_ptr<TransportKind> makeShmKind() { return std::make_unique<ShmKind>(); }

}  // namespace banyan::transport::shm
