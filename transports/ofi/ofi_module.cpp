// The module side of ofi_module.hpp: the ofi row of the transport table with a libfabric
// endpoint behind it, and banyan-topo's fabric report. Built into libbanyan-ofi.so only, the
// one library of banyan that links libfabric; libbanyan's row (ofi_kind.cpp) loads it and
// hands it the peers.

#include <fmt/format.h>

#include <map>

#include "common/log.hpp"
#include "common/status.hpp"
#include "transports/ofi/ofi_exchange.hpp"
#include "transports/ofi/ofi_loader.hpp"
#include "transports/ofi/ofi_module.hpp"
#include "transports/ofi/ofi_transport.hpp"
#include "transports/ofi/provider.hpp"

namespace banyan::transport::ofi {
namespace {

// Each rank says it has inserted its ofi peers' addresses, then waits until its peers have.
void awaitConnected(const SetUpContext& context, const std::map<int, OfiPeer>& peers) {
  const auto key = [&](int rank) { return fmt::format("{}ofi-connected/{}", context.storePrefix, rank); };
  context.store->set(key(context.rank), Store::Bytes{std::uint8_t{1}}, context.config.timeout);
  for (const auto& entry : peers) context.store->get(key(entry.first), context.config.timeout);
}

// The provider every rank would use, or null where there is none (and none was asked for).
InfoPtr findProvider(const SetUpContext& context) {
  const config::Config& config = context.config;
  const bool forced = context.forced() == "ofi";
  InfoPtr info;
  try {
    info = chooseProvider({config.ofiProvider, forced, context.listenAddress});
  } catch (const Error& error) {
    // Asked for (forced or named): the error is the answer. Merely looking for a fabric: a
    // libfabric that fails to enumerate its providers must not stop a job TCP can carry.
    if (forced || !config.ofiProvider.empty()) throw;
    log::warn(context.rank, "ofi: looking for a fabric failed, using TCP between hosts: {}", error.what());
  }
  if (!info && forced) {
    fail(ErrorCode::NotSupported,
         "BANYAN_TRANSPORT=ofi: no libfabric provider here offers reliable-datagram endpoints with tagged messages");
  }
  return info;
}

std::unique_ptr<OfiTransport> openTransport(const SetUpContext& context, InfoPtr info) {
  const config::Config& config = context.config;
  OfiTransportParams p;
  p.rank = context.rank;
  p.size = context.size;
  // Over libfabric's shm, RMA writes are a cross-memory copy like its tagged messages, so
  // RMA is opt-in there (docs/ofi.md, "Three shm bugs": the 4+ rank failure once given as
  // the reason was a completion fault, worked around in the transport).
  p.rmaBytes = !config.ofiRmaBytesSet && std::string(info->fabric_attr->prov_name) == "shm" ? 0 : config.ofiRmaBytes;
  p.notify = config.ofiRmaByMessage ? RmaNotify::Message : RmaNotify::CqData;
  p.registrationCache = config.ofiRegistrationCache;
  p.timeout = config.timeout;
  // Strangers are kept out where the job is authenticated (membership.hpp).
  p.key = context.key;
  p.liveness = context.liveness;
  return std::make_unique<OfiTransport>(context.io, std::move(info), p);
}

class OfiKind final : public TransportKind {
 public:
  std::string_view name() const override { return "ofi"; }
  bool available() const override { return true; }
  bool canReach(const SetUpContext& /*context*/, int peer) const override { return peers_.count(peer) != 0; }

  void publish(const SetUpContext& context, const std::vector<int>& candidates) override {
    // The process's first fi_getinfo loads libfabric's providers, whose initialisation may
    // install signal handlers (the shm provider's): put back (ofi_loader.hpp).
    firstUseGuarded(context.rank, [&] {
      if (InfoPtr info = findProvider(context)) transport_ = openTransport(context, std::move(info));
    });
    peers_ = exchangeAddresses(context, candidates, transport_ ? transport_->providerName() : "",
                               transport_ ? transport_->address() : "");
    if (peers_.empty()) transport_.reset();  // nobody to talk to: close the endpoint now
  }

  OpenedTransport open(const SetUpContext& context, const std::vector<int>& /*peers*/) override {
    std::map<int, std::string> endpoints;
    for (const auto& [rank, peer] : peers_) endpoints[rank] = peer.address;
    transport_->connect(endpoints);
    // Directed receives match only addresses already in the address vector: no peer may send
    // here before this rank has inserted them all, or its first messages could be kept as
    // from an unknown source (membership.hpp).
    if (context.key) awaitConnected(context, peers_);
    for (const auto& [rank, peer] : peers_) {
      if (context.sameHost(rank)) transport_->watchPeerProcess(rank, peer.pid);
    }
    OpenedTransport opened;
    opened.provider = transport_->providerDescription();
    log::info(context.rank, "ofi: {}", opened.provider);
    const std::string_view family = socketFamilyOf(transport_->address());
    opened.summary = fmt::format("ofi ({}){}{} to {} rank(s)", transport_->providerName(),
                                 family.empty() ? "" : " over ", family, peers_.size());
    opened.transport = std::move(transport_);
    return opened;
  }

 private:
  std::unique_ptr<OfiTransport> transport_;
  std::map<int, OfiPeer> peers_;
};

class Module final : public OfiModule {
 public:
  std::unique_ptr<TransportKind> makeKind() override { return std::make_unique<OfiKind>(); }

  std::string describeFabric(const config::Config& config) override {
    const bool forced = config.transport == "ofi";
    const std::string scope = forced ? "between every pair of ranks (BANYAN_TRANSPORT=ofi)" : "between hosts";
    try {
      const auto info = chooseProvider({config.ofiProvider, forced, ""});
      if (!info) return "Fabric: no real fabric found; TCP between hosts (BANYAN_OFI_PROVIDER names a software one)\n";
      return fmt::format("Fabric: libfabric {}, {}\n  {}\n", info->fabric_attr->prov_name, scope,
                         describeProvider(*info));
    } catch (const std::exception& e) {
      return fmt::format("Fabric: {}\n", e.what());
    }
  }
};

}  // namespace
}  // namespace banyan::transport::ofi

extern "C" __attribute__((visibility("default"))) banyan::transport::ofi::OfiModule* banyan_ofi_module(
    int abi, const char* version) {
  if (abi != banyan::transport::ofi::kModuleAbi || version == nullptr ||
      std::string_view(version) != BANYAN_VERSION_STRING) {
    return nullptr;
  }
  static banyan::transport::ofi::Module module;  // never destroyed before exit; libfabric stays loaded
  return &module;
}
