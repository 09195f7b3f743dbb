#pragma once
// Chooses the transport of every peer pair and builds them, from the transport table
// (transports/transport_kind.hpp): shared memory between ranks of one host, libfabric where both
// ranks found the same provider, else TCP; unless BANYAN_TRANSPORT forces one. Every rank
// publishes its host identity here (and each kind what else it needs, such as the ofi provider
// and address) in the store and reads everyone's, so all ranks derive the same layout and routes.

#include "config/config.hpp"
#include "security/job_key.hpp"
#include "topology/host_layout.hpp"
#include "transports/peer_liveness.hpp"
#include "transports/per_peer_transport.hpp"

#include <banyan/store.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace asio {
class any_io_executor;
}

namespace banyan::runtime {

struct TransportSetup {
  std::unique_ptr<transport::PerPeerTransport> transport;
  topology::HostLayout layout;
  bool sharedMemory = false;  // local peers talk through shm
  std::string summary;        // for the INFO log: "shm to 3 ranks (cma), tcp over IPv4 on 10.0.0.1:4000 to 4 ranks"
  std::string ofiProvider;    // the libfabric provider and its attributes, "" when ofi is not used
  // Whether the peers on this host have exited, as every transport above asks it
  // (transports/peer_liveness.hpp): for the other engines of the communicator to share.
  std::shared_ptr<transport::PeerLiveness> liveness;
  // Every rank's control channel address (resilience/control_plane.hpp), by rank; empty when
  // the layout was known already (`known` below).
  std::vector<std::string> controlAddresses;
  // Set when every rank shares its family's connections (TransportParams::connectionRank): each
  // rank's rank there, and `transport` is null (the caller opens its channel).
  std::vector<int> connectionRanks;
};

struct TransportParams {
  int rank = 0;
  int size = 1;
  std::uint64_t nonce = 0;
  std::uint64_t communicatorId = 0;
  std::string storePrefix;
  // Tells apart two sets of connections of one communicator (collectives "", point-to-point
  // "p"): part of the shared-memory segment names.
  std::string channel;
  // The job key (security/key_source.hpp); none: TCP connections are not authenticated.
  std::optional<security::JobKey> key;
  // The communicator's peer liveness, when an earlier call has made it; null: a new one.
  std::shared_ptr<transport::PeerLiveness> liveness;
  // This rank's control channel address, published with its host identity.
  std::string controlAddress;
  // This rank's rank in the family connections it could send through (identified by
  // connectionsId), published with its host identity; -1: none. When every rank names the same
  // ones, no transport is opened (TransportSetup::connectionRanks).
  int connectionRank = -1;
  std::uint64_t connectionsId = 0;
};

// The address this rank's sockets listen on: BANYAN_SOCKET_ADDR, else the interface it reaches
// the store through, else loopback.
std::string listenAddress(const Store& store, const config::Config& config);

// `known`: the host layout, when an earlier call has exchanged it already.
TransportSetup setUpTransports(const asio::any_io_executor& io, const std::shared_ptr<Store>& store,
                               const TransportParams& params, const config::Config& config,
                               const topology::HostLayout* known = nullptr);

}  // namespace banyan::runtime
