#pragma once
// The transport table: one row (a TransportKind) per transport, in the order the runtime tries
// them, as NCCL's transport table does. The runtime (src/runtime/transport_setup.cpp) offers
// each kind in turn the peers no earlier kind took: the kind publishes what its peers need to
// know of it, answers canReach for each, and opens its transport for those it reaches. Adding a
// transport is one folder with its row (<name>_kind.cpp), one line in transportTable() and its
// name among BANYAN_TRANSPORT's values (src/config); the runtime does not change.
//
// BANYAN_TRANSPORT names one kind (TransportKind::name); then only that kind is offered peers,
// and a kind forced on peers it cannot reach says so (shm across hosts, ofi without a shared
// provider).

#include <banyan/store.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "security/job_key.hpp"
#include "topology/host_layout.hpp"
#include "transports/peer_liveness.hpp"
#include "transports/transport.hpp"

namespace banyan::transport {

// What every kind may use to open its transport: the job's facts, and what every rank has
// published already (host identity and process id, in `layout`).
struct SetUpContext {
  asio::any_io_executor io;
  std::shared_ptr<Store> store;
  const config::Config& config;
  const topology::HostLayout& layout;
  int rank = 0;
  int size = 1;
  std::uint64_t nonce = 0;
  std::uint64_t communicatorId = 0;
  std::string storePrefix;
  std::string channel;  // tells apart two sets of connections of one communicator ("" or "p")
  std::optional<security::JobKey> key;
  std::string listenAddress;  // the IP this rank's sockets listen on
  // Whether the peers on this host have exited: one for every transport of the communicator.
  std::shared_ptr<PeerLiveness> liveness;

  // The kind BANYAN_TRANSPORT forces, or "" (auto).
  std::string_view forced() const { return config.transport == "auto" ? std::string_view() : config.transport; }
  bool sameHost(int peer) const {
    return layout.hostOfRank[static_cast<std::size_t>(peer)] == layout.hostOfRank[static_cast<std::size_t>(rank)];
  }
};

// What a kind opened, and how the INFO log names it.
struct OpenedTransport {
  std::unique_ptr<Transport> transport;
  std::string summary;   // for the INFO log: "shm to 3 rank(s) (...)"
  std::string provider;  // the provider and its attributes where the kind has one (ofi), else ""
};

class TransportKind {
 public:
  virtual ~TransportKind() = default;
  // As BANYAN_TRANSPORT spells it.
  virtual std::string_view name() const = 0;
  // Whether this build has it (ofi needs libfabric).
  virtual bool available() const = 0;
  // Publishes this rank's facts for the kind and reads the candidates' (ofi: its provider and
  // endpoint address), so that canReach can answer. Every rank offered peers calls it, even one
  // that will carry none of them: its peers wait for what it publishes. Kinds whose facts are
  // all in the layout publish nothing.
  virtual void publish(const SetUpContext& /*context*/, const std::vector<int>& /*candidates*/) {}
  // Whether this rank's transport of this kind reaches `peer`, from what both published.
  virtual bool canReach(const SetUpContext& context, int peer) const = 0;
  // Opens the transport for `peers` (the candidates it reaches; never empty).
  virtual OpenedTransport open(const SetUpContext& context, const std::vector<int>& peers) = 0;
};

// The rows, in priority order: shm, then ofi, then tcp. Fresh objects: a kind may keep what it
// learned while opening (the peers' ofi addresses) until the setup ends.
std::vector<std::unique_ptr<TransportKind>> transportTable();

}  // namespace banyan::transport
