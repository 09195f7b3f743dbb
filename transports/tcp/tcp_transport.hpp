#pragma once
// The TCP transport: Asio sockets on the communicator's progress thread.
//
// Connections form lazily, on the first message to or from a peer: the lower rank of a pair
// connects (to the address the higher rank published in the store), the higher rank accepts.
// Both ends of a pair always take part in the same messages, so each learns of the pair at
// the same operation and neither waits for a connection the other never makes.
//
// Each peer pair has `socketsPerPeer` connections. A message of kStripeBytes or more is cut
// into one part per connection; smaller messages go whole, round-robin. Both ends count a
// pair's messages the same way, so they agree on which connection carries which part.
//
// Memory stays bounded by what the ranks' programs send: a connection is read only when a
// receive is posted on it, so data nobody asked for waits in the kernel's socket buffer (and
// then in the sender's) under TCP flow control. Every frame carries its channel
// (transport.hpp, openChannel): a frame of a channel with no receive posted, read because
// another channel's receive is, is copied aside until its receive comes.

#include "config/config.hpp"
#include "security/job_key.hpp"
#include "transports/peer_liveness.hpp"
#include "transports/transport.hpp"

#include <banyan/store.hpp>

#include <memory>
#include <optional>
#include <string>

namespace asio {
class any_io_executor;
}

namespace banyan::transport::tcp {

// Messages of at least this many bytes are striped across the pair's connections.
inline constexpr std::size_t kStripeBytes = std::size_t{1} << 20;

struct TcpTransportParams {
  int rank = 0;
  int size = 1;
  std::uint64_t nonce = 0;    // shared by the communicator's ranks; hellos must carry it
  std::string storePrefix;    // keys: <prefix>tcp/<rank> = "ip:port"
  std::string listenAddress;  // IP to listen on
  int socketsPerPeer = 1;
  std::size_t socketBufferBytes = 0;          // SO_SNDBUF/SO_RCVBUF; 0 leaves them to the kernel
  std::string congestion = "system";          // BANYAN_TCP_CONGESTION (tcp_congestion.hpp)
  std::chrono::milliseconds timeout{300000};  // for store lookups and handshakes
  // The job key: with one, every connection starts with the challenge-response of
  // security/handshake.hpp; without (BANYAN_AUTH=off), with the hello alone.
  std::optional<security::JobKey> key;
  // Whether the peers on this host have exited (peer_liveness.hpp), shared by the communicator's
  // transports; null: the transport keeps its own.
  std::shared_ptr<PeerLiveness> liveness;
};

class TcpTransport final : public Transport {
 public:
  // Opens the listening socket and publishes its address in `store` (blocking; user thread).
  TcpTransport(const asio::any_io_executor& io, std::shared_ptr<Store> store, const TcpTransportParams& params);
  ~TcpTransport() override;

  std::string_view name() const override { return "tcp"; }
  void send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) override;
  void recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) override;
  void shutdown(const Status& why) override;
  std::string describePeer(int peer) const override;
  std::unique_ptr<Transport> openChannel(const ChannelSpec& spec, const asio::any_io_executor& executor) override;

  // "ip:port" this transport listens on.
  const std::string& listenAddress() const;
  // The congestion control its data connections get (BANYAN_TCP_CONGESTION), for the summary.
  std::string congestion() const;
  // `peer` runs on this host as process `pid`: a broken connection to it is reported as its
  // exit when the kernel says the process has ended (peer_liveness.hpp).
  void watchPeerProcess(int peer, int pid);

  // The connections and their queues (tcp_transport_impl.hpp), shared by every channel's handle.
  struct Impl;
  // Opens a channel on `impl` (tcp_channel.cpp; a channel's own openChannel comes here too).
  static std::unique_ptr<Transport> openOn(const std::shared_ptr<Impl>& impl, const ChannelSpec& spec,
                                           const asio::any_io_executor& executor);

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace banyan::transport::tcp
