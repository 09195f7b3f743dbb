// The ofi row of the transport table (transport_kind.hpp): peers that found the same libfabric
// provider. Every rank offered peers publishes "<provider>\n<pid>\n<address>" ("" without a
// provider, or in a build without libfabric, so that peers built with it can read the answer)
// and reads the candidates'; a pair uses ofi when both name the same provider. The process id
// lets a peer on the same host watch for its exit (ofi_liveness.hpp).

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "common/log.hpp"
#include "common/status.hpp"
#include "transports/transport_kind.hpp"

#ifdef BANYAN_HAVE_OFI
#include "transports/ofi/ofi_transport.hpp"
#endif

namespace banyan::transport::ofi {
namespace {

struct OfiPeer {
  std::string address;
  int pid = 0;
};

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
    if (!provider.empty() && theirProvider == provider) {
      OfiPeer& peer = addresses[rank];
      peer.pid = std::atoi(theirs.substr(newline + 1, second - newline - 1).c_str());
      peer.address = theirs.substr(second + 1);
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

#ifdef BANYAN_HAVE_OFI

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

#endif

class OfiKind final : public TransportKind {
 public:
  std::string_view name() const override { return "ofi"; }
  bool canReach(const SetUpContext& /*context*/, int peer) const override { return peers_.count(peer) != 0; }
#ifdef BANYAN_HAVE_OFI
  bool available() const override { return true; }

  void publish(const SetUpContext& context, const std::vector<int>& candidates) override {
    if (InfoPtr info = findProvider(context)) transport_ = openTransport(context, std::move(info));
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
    opened.summary = fmt::format("ofi ({}) to {} rank(s)", transport_->providerName(), peers_.size());
    opened.transport = std::move(transport_);
    return opened;
  }

 private:
  std::unique_ptr<OfiTransport> transport_;
#else
  bool available() const override { return false; }

  void publish(const SetUpContext& context, const std::vector<int>& candidates) override {
    exchangeAddresses(context, candidates, "", "");
  }

  // Never called: without libfabric this rank reaches nobody over ofi (canReach).
  OpenedTransport open(const SetUpContext& context, const std::vector<int>& /*peers*/) override {
    fail(ErrorCode::Internal, "ofi: rank {} was asked to open ofi in a build without libfabric", context.rank);
  }

 private:
#endif
  std::map<int, OfiPeer> peers_;
};

}  // namespace

std::unique_ptr<TransportKind> makeOfiKind() { return std::make_unique<OfiKind>(); }

}  // namespace banyan::transport::ofi
