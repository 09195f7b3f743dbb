#include <fmt/format.h>

#include <asio.hpp>

#include "transports/ofi/ofi_transport_impl.hpp"

namespace banyan::transport::ofi {

void OfiTransport::Impl::open() {
  endpoint.open(*info);
  providerName = endpoint.providerName();
  const int mrMode = info->domain_attr->mr_mode;
  registry = std::make_unique<MemoryRegistry>(endpoint.domain(), endpoint.ep(), mrMode, params.registrationCache,
                                              info->domain_attr->mr_key_size);
  checkSources = params.key && (info->caps & kMembershipCaps) == kMembershipCaps;
  rmaEnabled = (info->caps & FI_RMA) != 0 && params.rmaBytes != 0;
  const std::size_t dataBytes = info->domain_attr->cq_data_size;
  cqDataMask = dataBytes >= 8 ? ~std::uint64_t{0} : dataBytes >= 4 ? 0xffffffffULL : 0;
  notify = cqDataMask == 0 ? RmaNotify::Message : params.notify;
  maxWrite = static_cast<std::size_t>(std::min<std::uint64_t>(info->ep_attr->max_msg_size, std::uint64_t{1} << 30));
  if (maxWrite == 0) maxWrite = std::size_t{1} << 30;
  // libfabric 1.17's shm copies a message longer than its inject size by cross-memory attach,
  // and that copy loops forever (process_vm_readv with an exhausted local iovec, returning 0)
  // when the receive is shorter than the message: give every receive room to spare.
  if (providerName == "shm") guard = std::make_unique<ReceiveGuard>();
  if (providerName == "shm") {
    watchdog = std::make_unique<ProviderWatchdog>(kSpinBound, fmt::format("rank {} (ofi shm)", params.rank));
  }
  if (params.size > kMaxRanks) {
    fail(ErrorCode::NotSupported, "ofi: {} ranks; the transport's tags hold at most {}", params.size, kMaxRanks);
  }
  peers.resize(static_cast<std::size_t>(params.size));
  limit[kTx] = info->tx_attr->size != 0 ? info->tx_attr->size : SIZE_MAX;
  limit[kRx] = info->rx_attr->size != 0 ? info->rx_attr->size : SIZE_MAX;
  if (providerName == "shm" && info->rx_attr->size != 0) {
    // Posted receives and unexpected messages share shm's pool: shared out among the peers,
    // less room for control messages (flow_control.hpp). The per-peer shares keep the posted
    // receives well below rx_attr->size, so the count above never holds one back.
    credits = Credits(peers.size(), Credits::windowFor(info->rx_attr->size, 2 * kControlReceives,
                                                       static_cast<std::size_t>(params.size - 1)));
  } else if (info->rx_attr->size != 0) {
    // The others keep early messages apart from posted receives (sockets in the buffer asked
    // for above), so only the receive queue is shared out among the peers (flow_control.hpp).
    credits = Credits::receiveShares(peers.size(), info->rx_attr->size, kControlReceives,
                                     static_cast<std::size_t>(params.size - 1));
  }

  arena.resize(kControlReceives + kControlSends);
  controlOps.resize(arena.size());
  for (std::size_t i = 0; i < arena.size(); ++i) controlOps[i].slot = &arena[i];
  if (registry->localRequired()) arenaDesc = registry->pin(arena.data(), arena.size() * sizeof(ControlMessage)).desc;
  for (std::size_t i = 0; i < kControlReceives; ++i) postControlRecv(controlOps[i], true);
  for (std::size_t i = arena.size(); i > kControlReceives; --i) freeSendSlots.push_back(i - 1);
  if (shutDown) failure.throwIfError();

  description = fmt::format(
      "{}, {}, {}, large messages from {} B by {}", describeProvider(*info),
      checkSources ? "receives only from the job's addresses, sealed control messages"
      : params.key ? "sources not checked, sealed control messages"
                   : "not authenticated",
      endpoint.waitFd() >= 0 ? "waits on a descriptor" : "no wait descriptor (naps)", params.rmaBytes,
      rmaEnabled
          ? (notify == RmaNotify::CqData ? "RMA write with remote CQ data" : "RMA write and a completion message")
          : "tagged send (no RMA)");
  if (endpoint.waitFd() >= 0) waitDescriptor = std::make_unique<asio::posix::stream_descriptor>(io, endpoint.waitFd());
  helper = std::thread([this] { helperLoop(); });
}

void OfiTransport::Impl::close() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  helperWake.notify_all();
  if (helper.joinable()) helper.join();
  if (waitDescriptor) {
    asio::error_code ignored;
    waitDescriptor->cancel(ignored);
    waitDescriptor->release();  // libfabric owns the descriptor
    waitDescriptor.reset();
  }
  timer.cancel();
  aliveToken.reset();
  for (auto& peer : peers) peer.exitWatch.reset();
  failAll(Status::make(ErrorCode::Aborted, "ofi: the transport was closed"));
  registry.reset();
  endpoint.close();
}

// Reads the queue when the driver has not for a tick: the driver sleeps between operations
// (or the communicator has none), but a peer's write into us may still need our progress.
void OfiTransport::Impl::helperLoop() {
  std::unique_lock lock(mutex);
  std::uint64_t seen = driverPolls;
  int idleTicks = 0;
  while (!stopping) {
    helperWake.wait_for(lock, idleTicks < kHelperTicksBeforeIdle ? std::chrono::milliseconds(kHelperTick)
                                                                 : std::chrono::milliseconds(kHelperIdleTick));
    if (stopping) break;
    if (driverPolls != seen || shutDown) {
      seen = driverPolls;
      idleTicks = 0;
      continue;
    }
    const std::size_t before = due.size();
    const std::size_t read = readQueue();
    if (read > 0) quietNaps = 0;
    retryBlocked();
    settleDoomed(false);
    settleExited(read);
    probePeers();
    idleTicks = read > 0 || !live.empty() ? 0 : idleTicks + 1;
    if (due.size() > before) asio::post(io, [] {});  // wake a driver sleeping in the event loop
  }
}

// The peer a send or receive goes to, or nullptr after queueing `done` with the reason there
// is none (the transport is shut down, or the rank cannot be reached).
OfiTransport::Impl::Peer* OfiTransport::Impl::accept(int rank, Completion& done) {
  if (shutDown || doomed) {
    due.emplace_back(std::move(done), shutDown ? failure : *doomed);
    return nullptr;
  }
  Peer* peer = peerOf(rank);
  if (peer == nullptr) {
    due.emplace_back(std::move(done),
                     Status::make(ErrorCode::Internal, "ofi: rank {} cannot reach rank {}", params.rank, rank));
  } else if (!peer->gone.empty()) {
    due.emplace_back(std::move(done), lostStatus(rank));
    return nullptr;
  }
  return peer;
}

OfiTransport::OfiTransport(const asio::any_io_executor& io, InfoPtr info, const OfiTransportParams& params)
    : impl_(std::make_unique<Impl>(io, std::move(info), params)) {
  try {
    impl_->open();
  } catch (...) {
    impl_->close();
    throw;
  }
}

OfiTransport::~OfiTransport() { impl_->close(); }

std::string OfiTransport::address() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->endpoint.address();
}

void OfiTransport::connect(const std::map<int, std::string>& addresses) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  for (const auto& [rank, address] : addresses) {
    if (rank < 0 || rank >= impl.params.size || rank == impl.params.rank) continue;
    Impl::Peer& peer = impl.peers[static_cast<std::size_t>(rank)];
    peer.addr = impl.endpoint.insert(address, rank, peer.where);
    peer.reachable = true;
  }
}

void OfiTransport::watchPeerProcess(int peerRank, int pid) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  Impl::Peer* peer = impl.peerOf(peerRank);
  if (peer == nullptr || pid <= 0) return;
  peer->pid = pid;
  if (impl.watchdog) impl.watchdog->watchPeer(peerRank, pid);
  impl.liveness->watch(peerRank, pid);
  peer->exitWatch =
      impl.liveness->onExit(impl.io, peerRank, [&impl, peerRank, token = std::weak_ptr<int>(impl.aliveToken)] {
        if (token.expired()) return;
        std::lock_guard lock(impl.mutex);
        impl.peerExited(peerRank);
      });
}

void OfiTransport::send(int peerRank, std::uint64_t tag, const void* data, std::size_t bytes, Completion done) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  Impl::Peer* peer = impl.accept(peerRank, done);
  if (peer == nullptr) return;
  auto* op = new SendOp;
  op->peer = peerRank;
  op->seq = peer->sendSeq++;
  op->tag = tag;
  op->data = static_cast<const std::byte*>(data);
  op->bytes = bytes;
  op->done = std::move(done);
  op->rma = impl.usesRma(bytes);
  impl.live.insert(op);
  try {
    if (!op->rma) {
      impl.sendEager(op, *peer);
    } else if (auto early = peer->earlyReady.find(op->seq); early != peer->earlyReady.end()) {
      const ControlMessage ready = early->second;
      peer->earlyReady.erase(early);
      impl.startWrites(op, ready);
    } else {
      peer->awaitingReady[op->seq] = op;
    }
  } catch (const Error& e) {
    impl.failAll(Status(e.code(), e.detail()));
  }
}

void OfiTransport::recv(int peerRank, std::uint64_t tag, void* data, std::size_t bytes, Completion done) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  Impl::Peer* peer = impl.accept(peerRank, done);
  if (peer == nullptr) return;
  auto* op = new RecvOp;
  op->peer = peerRank;
  op->seq = peer->recvSeq++;
  op->tag = tag;
  op->data = static_cast<std::byte*>(data);
  op->bytes = bytes;
  op->done = std::move(done);
  op->rma = impl.usesRma(bytes);
  impl.live.insert(op);
  try {
    if (op->rma) {
      impl.postRmaRecv(op, *peer);
    } else {
      impl.receiveEager(op, *peer);
    }
  } catch (const Error& e) {
    impl.failAll(Status(e.code(), e.detail()));
  }
}

std::size_t OfiTransport::poll() {
  Impl& impl = *impl_;
  std::deque<std::pair<Completion, Status>> due;
  {
    std::lock_guard lock(impl.mutex);
    ++impl.driverPolls;
    if (!impl.shutDown) {
      const std::size_t read = impl.readQueue();
      if (read > 0) impl.quietNaps = 0;
      impl.retryBlocked();
      impl.settleDoomed(false);
      impl.settleExited(read);
      impl.probePeers();
    }
    due.swap(impl.due);
  }
  for (auto& [done, status] : due) done(status);
  return due.size();
}

bool OfiTransport::prepareToSleep() {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  ++impl.driverPolls;
  if (!impl.due.empty()) return false;
  if (impl.shutDown) return true;
  if (impl.readQueue() > 0 || !impl.due.empty()) {
    impl.quietNaps = 0;
    return false;
  }
  const bool outstanding = !impl.live.empty() || impl.anyWaiting() || impl.doomed.has_value();
  bool waitable = false;
  if (impl.waitDescriptor) {
    fid* fids[1] = {&impl.endpoint.cq()->fid};
    waitable = fi_trywait(impl.endpoint.fabric(), fids, 1) == FI_SUCCESS;
    if (waitable && !impl.sleep->fdArmed) {
      impl.sleep->fdArmed = true;
      impl.waitDescriptor->async_wait(asio::posix::stream_descriptor::wait_read,
                                      [state = impl.sleep](const asio::error_code&) { state->fdArmed = false; });
    }
  }
  // Providers with manual progress (and any without a usable descriptor) need the queue read
  // again soon while anything is outstanding: nap, do not block for the driver's full bound.
  if (outstanding && !impl.sleep->timerArmed) {
    impl.sleep->timerArmed = true;
    impl.timer.expires_after(impl.nextNap());
    impl.timer.async_wait([state = impl.sleep](const asio::error_code&) { state->timerArmed = false; });
  }
  return true;
}

void OfiTransport::awake() {}

void OfiTransport::shutdown(const Status& why) {
  std::unique_lock lock(impl_->mutex);
  impl_->drainDetached(lock);
  impl_->failAll(why);
}

std::string OfiTransport::describePeer(int peerRank) const {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.mutex);
  if (impl.peerOf(peerRank) == nullptr) return fmt::format("rank {}", peerRank);
  return impl.describe(peerRank);
}

const std::string& OfiTransport::providerDescription() const { return impl_->description; }
const std::string& OfiTransport::providerName() const { return impl_->providerName; }

std::uint64_t OfiTransport::retriedPosts() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->retried;
}

std::uint64_t OfiTransport::strangerMessages() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->strangers.count();
}

std::size_t OfiTransport::registrations() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->registry ? impl_->registry->size() : 0;
}

}  // namespace banyan::transport::ofi
