#pragma once
// The libfabric transport: messages between ranks over reliable-datagram endpoints of any
// provider (InfiniBand/RoCE through verbs, EFA, Slingshot, Omni-Path; the software providers
// tcp;ofi_rxm, sockets and shm in the tests). Small messages are tagged sends; large ones are
// RMA writes into the receiver's registered buffer (ofi_wire.hpp). Registrations are cached
// (memory_registry.hpp).
//
// Progress: one completion queue serves the endpoint. The driver reads it in poll(); before
// it sleeps, prepareToSleep() arms the queue's wait descriptor (FI_WAIT_FD, where the provider
// has one) and, while operations are outstanding, a short timer, since providers with manual
// progress (shm, the rxm layer) move data only when someone reads the queue. A helper thread
// reads the queue when the driver has not for a while: with tcp;ofi_rxm a peer's RMA write
// into us completes only once we read our queue, even after our own part is done.
//
// Threading: the driver thread calls everything; the helper thread only reads the queue. One
// mutex guards the libfabric objects and the transport's state; completions run in poll(),
// outside it.

#include <banyan/store.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "security/job_key.hpp"
#include "transports/ofi/provider.hpp"
#include "transports/peer_liveness.hpp"
#include "transports/transport.hpp"

namespace asio {
class any_io_executor;
}

namespace banyan::transport::ofi {

enum class RmaNotify { CqData, Message };

struct OfiTransportParams {
  int rank = 0;
  int size = 1;
  // Messages of at least this many bytes go by RMA write where the provider has RMA; 0: never.
  std::size_t rmaBytes = 64 * 1024;
  // How the receiver learns a write is complete: remote CQ data where the provider has it
  // (cq_data_size >= 4), else a Done message. Message forces the second (tests).
  RmaNotify notify = RmaNotify::CqData;
  std::size_t registrationCache = 64;  // cached registrations; 0 deregisters after each use
  std::chrono::milliseconds timeout{300000};
  // The job key: control messages are sealed with it, and receives are only from the job's
  // addresses where the provider can tell (membership.hpp). None: the job runs without
  // authentication (BANYAN_AUTH=off), and neither is done.
  std::optional<security::JobKey> key;
  // Whether the peers on this host have exited (peer_liveness.hpp), shared by the communicator's
  // transports; null: the transport keeps its own.
  std::shared_ptr<PeerLiveness> liveness;
};

class OfiTransport final : public Transport {
 public:
  // Opens fabric, domain, completion queue, address vector and endpoint for `info`.
  // Throws banyan::Error naming the libfabric call that failed.
  OfiTransport(const asio::any_io_executor& io, InfoPtr info, const OfiTransportParams& params);
  ~OfiTransport() override;

  // The endpoint's address (fi_getname), to publish through the store.
  std::string address() const;
  // Inserts the peers' published addresses; only these ranks can be reached.
  void connect(const std::map<int, std::string>& addresses);
  // `peer` runs on this host as process `pid`: its exit fails the operations with it at once
  // (ofi_liveness.hpp). Call after connect().
  void watchPeerProcess(int peer, int pid);

  std::string_view name() const override { return "ofi"; }
  void send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) override;
  void recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) override;
  void shutdown(const Status& why) override;
  std::string describePeer(int peer) const override;
  std::size_t poll() override;
  bool prepareToSleep() override;
  void awake() override;

  // describeProvider() of the provider in use.
  const std::string& providerDescription() const;
  const std::string& providerName() const;
  // How often a post met -FI_EAGAIN and was retried (the first contact with a peer, full queues).
  std::uint64_t retriedPosts() const;
  // Registrations this transport holds now.
  std::size_t registrations() const;
  // Messages dropped because they came from outside the job (membership.hpp).
  std::uint64_t strangerMessages() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace banyan::transport::ofi
