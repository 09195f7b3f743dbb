#pragma once
// Routes each peer to the transport chosen for that pair (shared memory inside a host, TCP
// between hosts), so the executor sees one Transport. Ordering per peer holds because a
// pair always uses the same transport.

#include "transports/transport.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace banyan::transport {

class PerPeerTransport final : public Transport {
 public:
  // `route[rank]` indexes `transports` (-1 for this rank itself).
  PerPeerTransport(std::vector<std::unique_ptr<Transport>> transports, std::vector<int> route);

  std::string_view name() const override { return name_; }
  void send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) override;
  void recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) override;
  void shutdown(const Status& why) override;
  std::string describePeer(int peer) const override;
  std::size_t poll() override;
  bool prepareToSleep() override;
  void awake() override;
  // Any of its transports does and no operation is outstanding on the others: the event loop is
  // then looked at every 16th look at memory (progress_driver.cpp). While a message to or from
  // a peer over TCP is outstanding it must be looked at every time: with ranks that outnumber
  // cores each look also yields the core, and every 16th look made a TCP step of 2 hosts x 2
  // ranks on 2 cores cost ~3x (bench/RESULTS.md, 2026-12-06, the spin experiment).
  bool answersInMemory() const override { return inMemory_ && elsewhere_.load(std::memory_order_relaxed) == 0; }
  // Opens the channel on every transport of this one (null if any cannot share); the channel's
  // rank r goes by the transport of this one's rank spec.ranks[r].
  std::unique_ptr<Transport> openChannel(const ChannelSpec& spec, const asio::any_io_executor& executor) override {
    return openChannels(spec, executor);
  }
  // What openChannels does with a transport that cannot carry channels (ofi): refuse (null), or
  // borrow it as it is, for the communicator that opened it (identity ranks only; `*borrowed`
  // says whether it had to).
  enum class Unshared { Refuse, Borrow };
  std::unique_ptr<PerPeerTransport> openChannels(const ChannelSpec& spec, const asio::any_io_executor& executor,
                                                 Unshared unshared = Unshared::Refuse, bool* borrowed = nullptr);

  // The transport that carries messages to `peer` ("" for this rank).
  std::string_view transportOf(int peer) const;

 private:
  Transport& of(int peer) const;
  // `done`, counted among the operations outstanding on a transport that does not answer in
  // memory while it is.
  Completion countedElsewhere(Completion done);

  // Declared before the transports: their completions (at shutdown too) count it down.
  std::atomic<std::size_t> elsewhere_{0};
  std::vector<std::unique_ptr<Transport>> transports_;
  std::vector<int> route_;
  std::string name_;
  bool inMemory_ = false;
};

}  // namespace banyan::transport
