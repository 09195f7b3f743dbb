#include "transports/per_peer_transport.hpp"

namespace banyan::transport {

PerPeerTransport::PerPeerTransport(std::vector<std::unique_ptr<Transport>> transports, std::vector<int> route)
    : transports_(std::move(transports)), route_(std::move(route)) {
  for (const auto& transport : transports_) {
    if (!name_.empty()) name_ += "+";
    name_ += transport->name();
    inMemory_ |= transport->answersInMemory();
  }
}

Transport& PerPeerTransport::of(int peer) const {
  // Validated by the executor's schedules; a bad index here is a bug, so fail loudly.
  if (peer < 0 || peer >= static_cast<int>(route_.size()) || route_[static_cast<std::size_t>(peer)] < 0) {
    fail(ErrorCode::Internal, "no transport routes to rank {}", peer);
  }
  return *transports_[static_cast<std::size_t>(route_[static_cast<std::size_t>(peer)])];
}

void PerPeerTransport::send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) {
  Transport& transport = of(peer);
  if (inMemory_ && !transport.answersInMemory()) done = countedElsewhere(std::move(done));
  transport.send(peer, tag, data, bytes, std::move(done));
}

void PerPeerTransport::recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) {
  Transport& transport = of(peer);
  if (inMemory_ && !transport.answersInMemory()) done = countedElsewhere(std::move(done));
  transport.recv(peer, tag, data, bytes, std::move(done));
}

Completion PerPeerTransport::countedElsewhere(Completion done) {
  elsewhere_.fetch_add(1, std::memory_order_relaxed);
  return [this, done = std::move(done)](const Status& status) {
    elsewhere_.fetch_sub(1, std::memory_order_relaxed);
    if (done) done(status);
  };
}

void PerPeerTransport::shutdown(const Status& why) {
  for (auto& transport : transports_) transport->shutdown(why);
}

std::string PerPeerTransport::describePeer(int peer) const {
  if (peer < 0 || peer >= static_cast<int>(route_.size()) || route_[static_cast<std::size_t>(peer)] < 0) {
    return {};
  }
  return of(peer).describePeer(peer);
}

std::size_t PerPeerTransport::poll() {
  std::size_t ran = 0;
  for (auto& transport : transports_) ran += transport->poll();
  return ran;
}

bool PerPeerTransport::prepareToSleep() {
  for (std::size_t i = 0; i < transports_.size(); ++i) {
    if (!transports_[i]->prepareToSleep()) {
      for (std::size_t j = 0; j < i; ++j) transports_[j]->awake();
      return false;
    }
  }
  return true;
}

void PerPeerTransport::awake() {
  for (auto& transport : transports_) transport->awake();
}

namespace {

// A transport that cannot carry channels, lent to the communicator that opened it: its messages
// go on the transport itself (the peer's end of such a pair does the same, since both ends of a
// pair route through the same kind). The owner (runtime::SharedConnections) outlives it.
class BorrowedTransport final : public Transport {
 public:
  explicit BorrowedTransport(Transport& inner) : inner_(inner) {}
  std::string_view name() const override { return inner_.name(); }
  void send(int peer, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) override {
    inner_.send(peer, tag, data, bytes, std::move(done));
  }
  void recv(int peer, std::uint64_t tag, void* data, std::size_t bytes, Completion done) override {
    inner_.recv(peer, tag, data, bytes, std::move(done));
  }
  void shutdown(const Status& why) override { inner_.shutdown(why); }
  std::string describePeer(int peer) const override { return inner_.describePeer(peer); }
  std::size_t poll() override { return inner_.poll(); }
  bool prepareToSleep() override { return inner_.prepareToSleep(); }
  void awake() override { inner_.awake(); }
  bool answersInMemory() const override { return inner_.answersInMemory(); }

 private:
  Transport& inner_;
};

}  // namespace

std::unique_ptr<PerPeerTransport> PerPeerTransport::openChannels(const ChannelSpec& spec,
                                                                 const asio::any_io_executor& executor,
                                                                 Unshared unshared, bool* borrowed) {
  if (borrowed != nullptr) *borrowed = false;
  std::vector<int> route(spec.ranks.size(), -1);
  std::vector<bool> used(transports_.size(), false);
  for (std::size_t r = 0; r < spec.ranks.size(); ++r) {
    const int mine = spec.ranks[r];
    if (mine < 0 || mine >= static_cast<int>(route_.size())) {
      fail(ErrorCode::Internal, "channel rank {} maps to rank {}, outside 0..{}", r, mine, route_.size() - 1);
    }
    route[r] = route_[static_cast<std::size_t>(mine)];
    if (route[r] >= 0) used[static_cast<std::size_t>(route[r])] = true;
  }
  // Only the transports the channel's peers route through; the others' indices close up.
  std::vector<std::unique_ptr<Transport>> channels;
  std::vector<int> renumbered(transports_.size(), -1);
  for (std::size_t i = 0; i < transports_.size(); ++i) {
    if (!used[i]) continue;
    auto channel = transports_[i]->openChannel(spec, executor);
    if (!channel && unshared == Unshared::Refuse) return nullptr;
    if (!channel) {
      channel = std::make_unique<BorrowedTransport>(*transports_[i]);
      if (borrowed != nullptr) *borrowed = true;
    }
    renumbered[i] = static_cast<int>(channels.size());
    channels.push_back(std::move(channel));
  }
  for (auto& r : route) {
    if (r >= 0) r = renumbered[static_cast<std::size_t>(r)];
  }
  return std::make_unique<PerPeerTransport>(std::move(channels), std::move(route));
}

std::string_view PerPeerTransport::transportOf(int peer) const {
  if (peer < 0 || peer >= static_cast<int>(route_.size()) || route_[static_cast<std::size_t>(peer)] < 0) return {};
  return transports_[static_cast<std::size_t>(route_[static_cast<std::size_t>(peer)])]->name();
}

}  // namespace banyan::transport
