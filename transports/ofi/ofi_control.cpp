#include <fmt/format.h>
#include <rdma/fi_tagged.h>

#include "transports/ofi/ofi_transport_impl.hpp"

namespace banyan::transport::ofi {

// Tells `peerRank` that message `seq` does not fit (with this side's length and operation),
// then fails here once that word has left (or after a short bound: the peer may be gone).
void OfiTransport::Impl::failMismatch(int peerRank, std::uint64_t seq, std::uint64_t bytes, std::uint64_t operation,
                                      const Status& why) {
  if (shutDown || doomed) return;
  doomed = why;
  doomedBy = std::chrono::steady_clock::now() + kTellBound;
  ControlMessage tell;
  tell.kind = ControlKind::Mismatch;
  tell.from = params.rank;
  tell.seq = seq;
  tell.bytes = bytes;
  tell.operation = operation;
  sendControl(peerRank, tell);
}

// Ends a doomed transport once its Mismatch message has left or its time is up.
void OfiTransport::Impl::settleDoomed(bool told) {
  if (doomed && !shutDown && (told || std::chrono::steady_clock::now() >= doomedBy)) {
    const Status why = *doomed;
    failAll(why);
  }
}

void OfiTransport::Impl::sendControl(int peerRank, const ControlMessage& message) {
  if (freeSendSlots.empty()) {
    pendingControl.emplace_back(peerRank, message);
    return;
  }
  const std::size_t index = freeSendSlots.back();
  freeSendSlots.pop_back();
  ControlOp& control = controlOps[index];
  control.kind = Context::Kind::ControlSend;
  control.peer = peerRank;
  *control.slot = message;
  if (params.key) seal(*control.slot, peerRank, *params.key);
  const fi_addr_t dest = peers[static_cast<std::size_t>(peerRank)].addr;
  post(
      kTx,
      [this, &control, dest] {
        return fi_tsend(endpoint.ep(), control.slot, sizeof(ControlMessage), arenaDesc, dest, kControlTag, &control.fi);
      },
      peerRank);
}

// Every control message carries exactly kControlTag, so its receives match that tag exactly
// (ignore 0), like every other receive here. Never an ignore mask: libfabric 1.17's shm reuses
// a receive's entry for an unexpected message without resetting its ignore bits, and matches
// a later receive against the unexpected message through those stale bits, so after a
// masked receive an early data message could complete another peer's receive (wrong sums),
// and its own receive then waited for ever (docs/ofi.md, "Three shm bugs").
void OfiTransport::Impl::postControlRecv(ControlOp& control, bool first) {
  control.kind = Context::Kind::ControlRecv;
  std::function<ssize_t()> attempt;
  if (guard && params.key) {
    // A stranger's longer message must not reach shm's endless copy (receive_guard.hpp).
    attempt = [this, &control] {
      iovec iov[2] = {{control.slot, sizeof(ControlMessage)}, {guard->data(), guard->size()}};
      void* descs[2] = {arenaDesc, nullptr};
      return fi_trecvv(endpoint.ep(), iov, descs, 2, FI_ADDR_UNSPEC, kControlTag, 0, &control.fi);
    };
  } else {
    attempt = [this, &control] {
      return fi_trecv(endpoint.ep(), control.slot, sizeof(ControlMessage), arenaDesc, FI_ADDR_UNSPEC, kControlTag, 0,
                      &control.fi);
    };
  }
  if (first) {
    post(kRx, attempt);
  } else {
    repostControl(attempt);
  }
}

// Whether a control message came from the rank it names, where sources are checked
// (membership.hpp); if not, it is dropped and logged. Under `mutex`.
bool OfiTransport::Impl::fromMember(const ControlMessage& message, std::size_t length, fi_addr_t source) {
  if (!params.key) return true;
  const bool known = message.from >= 0 && message.from < params.size && message.from != params.rank;
  if (length == sizeof(ControlMessage) && known && peers[static_cast<std::size_t>(message.from)].reachable &&
      (!checkSources || peers[static_cast<std::size_t>(message.from)].addr == source) &&
      sealed(message, params.rank, *params.key)) {
    return true;
  }
  strangers.dropped(providerName, fmt::format("a control message of {} bytes claiming rank {}", length, message.from));
  return false;
}

void OfiTransport::Impl::handleControl(const ControlMessage& message) {
  // Not peerOf(): a peer's Ready may arrive before connect() has added its address here (the
  // helper thread reads the queue from the start), and is kept for the send that will follow.
  const bool known = message.from >= 0 && message.from < params.size && message.from != params.rank;
  if (message.magic != ControlMessage::kMagic || !known) {
    failAll(Status::make(ErrorCode::Remote,
                         "ofi: rank {} received a control message that is not banyan's (magic {:#x}, sender {})",
                         params.rank, message.magic, message.from));
    return;
  }
  Peer* peer = &peers[static_cast<std::size_t>(message.from)];
  if (message.kind == ControlKind::Ready) {
    auto it = peer->awaitingReady.find(message.seq);
    if (it == peer->awaitingReady.end()) {
      peer->earlyReady[message.seq] = message;
      return;
    }
    SendOp* op = it->second;
    peer->awaitingReady.erase(it);
    startWrites(op, message);
  } else if (message.kind == ControlKind::Mismatch) {
    failAll(Status::make(ErrorCode::Remote,
                         "ofi: rank {} found that message {} between it and rank {} does not fit: rank {} has {} "
                         "bytes for operation {} there (the ranks disagree on the sequence of collectives)",
                         message.from, message.seq, params.rank, message.from, message.bytes, message.operation)
                .withMismatch(message.from, message.operation));
  } else if (message.kind == ControlKind::Done) {
    writeArrived(message.id, true);
  } else if (message.kind == ControlKind::Probe) {
    // Only its sender's side matters: the send fails if this process is gone.
  } else if (message.kind == ControlKind::Credit) {
    creditsArrived(message.from, message.pieces);
  } else {
    failAll(Status::make(ErrorCode::Remote, "ofi: rank {} sent a control message of unknown kind {}", message.from,
                         static_cast<std::uint32_t>(message.kind)));
  }
}

}  // namespace banyan::transport::ofi
