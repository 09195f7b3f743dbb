#pragma once
// The shared-memory transport: messages between ranks of one host through rings of slots in
// POSIX shared memory (shm_wire.hpp), large ones by a single cross-memory copy
// (cma.hpp) where the kernel allows it, wake-ups through a per-rank doorbell (doorbell.hpp).
//
// Each rank creates one segment holding its outgoing rings, maps its local peers' segments at
// construction, and unlinks its segment's name once every peer has mapped it, so nothing
// remains in /dev/shm while the job runs or after it dies.
//
// Progress is by polling (Transport::poll, called by the driver between event-loop rounds);
// the doorbell wakes a driver that has gone to sleep.
//
// A ShmTransport is a handle on shared state (shm_impl.hpp): the one constructed is channel 0,
// each openChannel another handle on the same segments and rings. poll/prepareToSleep/awake of
// any handle make progress for every channel; the segments go with the last handle.

#include "transports/peer_liveness.hpp"
#include "transports/shm/shm_wire.hpp"
#include "transports/transport.hpp"

#include <banyan/store.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace asio {
class any_io_executor;
}

namespace banyan::transport::shm {

struct ShmChannel;

struct ShmTransportParams {
  int rank = 0;
  int size = 1;
  std::vector<int> localRanks;   // global ranks on this host, ascending; includes `rank`
  std::string name;              // unique per job and communicator: "banyan-<key>-c<id>"
  std::string storePrefix;       // keys: <prefix>shm/...
  std::uint64_t probeValue = 0;  // any value shared by the job (the nonce)
  RingGeometry geometry;
  // Messages of at least this many bytes go by cross-memory attach where it works; 0: never.
  std::size_t crossMemoryBytes = 64 * 1024;
  std::chrono::milliseconds timeout{300000};
  // Whether the peers have exited (peer_liveness.hpp), shared by the communicator's transports;
  // null: the transport keeps its own.
  std::shared_ptr<PeerLiveness> liveness;
};

class ShmTransport final : public Transport {
 public:
  // Creates this rank's segment and maps every local peer's (blocking, through the store).
  ShmTransport(const asio::any_io_executor& io, std::shared_ptr<Store> store, const ShmTransportParams& params);
  ~ShmTransport() override;

  std::string_view name() const override { return "shm"; }
  void send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) override;
  void recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) override;
  void shutdown(const Status& why) override;
  std::string describePeer(int peer) const override;
  std::size_t poll() override;
  bool prepareToSleep() override;
  void awake() override;
  bool answersInMemory() const override { return true; }

  // Another handle on the same rings for `spec` (transport.hpp); `executor` is unused: nothing
  // of shm's goes through the event loop per channel.
  std::unique_ptr<Transport> openChannel(const ChannelSpec& spec, const asio::any_io_executor& executor) override;

  // How many local peers this rank reads by cross-memory attach (the rest use the ring).
  int crossMemoryPeers() const;

 private:
  struct Impl;

  ShmTransport(std::shared_ptr<Impl> impl, ShmChannel& channel, std::vector<int> ranks);
  int transportRank(int channelRank) const;

  std::shared_ptr<Impl> impl_;
  ShmChannel* channel_;
  std::vector<int> ranks_;  // channel rank -> the transport's rank; empty: the same (channel 0)
};

}  // namespace banyan::transport::shm
