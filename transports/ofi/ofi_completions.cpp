#include <fmt/format.h>
#include <rdma/fi_errno.h>

#include <thread>

#include "transports/ofi/ofi_transport_impl.hpp"

namespace banyan::transport::ofi {

// `source`: the completion's source address where sources are checked.
void OfiTransport::Impl::dispatch(const fi_cq_data_entry& entry, fi_addr_t source) {
  // A peer's write into this rank is known by its flags, not by a null context: libfabric
  // 1.17's shm fills the target's op_context with the writer's message id (a value from the
  // writer's address space; dereferencing it crashed 4- and 5-rank RMA runs).
  if ((entry.flags & FI_REMOTE_WRITE) != 0) {
    if ((entry.flags & FI_REMOTE_CQ_DATA) != 0) writeArrived(entry.data & cqDataMask, false);
    return;
  }
  if (entry.op_context == nullptr) return;
  auto* context = static_cast<Context*>(entry.op_context);
  const bool received = context->kind == Context::Kind::Recv || context->kind == Context::Kind::ControlRecv;
  if (const int peer = peerOfOperation(context); peer >= 0) peers[static_cast<std::size_t>(peer)].reached = true;
  --posted[received ? kRx : kTx];
  switch (context->kind) {
    case Context::Kind::Send:
      finish(static_cast<SendOp*>(context), Status::ok());
      return;
    case Context::Kind::Recv: {
      auto* op = static_cast<RecvOp*>(context);
      if (entry.len != op->bytes) {
        failMismatch(op->peer, op->seq, op->bytes, op->tag,
                     Status::make(ErrorCode::Remote,
                                  "ofi: rank {} sent {} bytes as message {} to rank {}, which expected {} bytes for "
                                  "operation {} (the ranks disagree on the sequence of collectives)",
                                  op->peer, entry.len, op->seq, params.rank, op->bytes, op->tag)
                         .withMismatch(op->peer, 0));  // the sender's operation is not on the wire here
        return;
      }
      if (cqDataMask != 0 && (entry.flags & FI_REMOTE_CQ_DATA) != 0 && entry.data != (op->tag & cqDataMask)) {
        failMismatch(
            op->peer, op->seq, op->bytes, op->tag,
            Status::make(ErrorCode::Remote,
                         "ofi: rank {} sent message {} for operation {}, but rank {} expected it for operation "
                         "{} (the ranks disagree on the sequence of collectives)",
                         op->peer, op->seq, entry.data, params.rank, op->tag & cqDataMask)
                .withMismatch(op->peer, entry.data));
        return;
      }
      finish(op, Status::ok());
      return;
    }
    case Context::Kind::Write: {
      auto* write = static_cast<WriteOp*>(context);
      SendOp* op = write->send;
      live.erase(write);
      delete write;
      if (--op->writesLeft == 0) {
        if (notify == RmaNotify::Message) {
          ControlMessage done;
          done.kind = ControlKind::Done;
          done.from = params.rank;
          done.seq = op->seq;
          done.id = op->id;
          sendControl(op->peer, done);
        }
        finish(op, Status::ok());
      }
      return;
    }
    case Context::Kind::ControlSend: {
      auto& control = *static_cast<ControlOp*>(context);
      if (control.slot->kind == ControlKind::Probe) peers[static_cast<std::size_t>(control.peer)].probing = false;
      if (control.slot->kind == ControlKind::Mismatch) {
        settleDoomed(true);
        return;
      }
      freeSendSlots.push_back(static_cast<std::size_t>(&control - controlOps.data()));
      if (!pendingControl.empty()) {
        auto [peer, message] = pendingControl.front();
        pendingControl.pop_front();
        sendControl(peer, message);
      }
      return;
    }
    case Context::Kind::ControlRecv: {
      auto& control = *static_cast<ControlOp*>(context);
      const ControlMessage message = *control.slot;
      postControlRecv(control);
      if (fromMember(message, entry.len, source)) handleControl(message);
      return;
    }
  }
}

void OfiTransport::Impl::readError() {
  fi_cq_err_entry error{};
  if (fi_cq_readerr(endpoint.cq(), &error, 0) <= 0) return;
  if (error.err == FI_ECANCELED && shutDown) return;
  // No rank sends a control message longer than the receive: one that is (checked sources
  // only; membership.hpp) is a stranger's, dropped like the others.
  if (params.key && error.err == FI_ETRUNC && error.op_context != nullptr &&
      static_cast<const Context*>(error.op_context)->kind == Context::Kind::ControlRecv) {
    --posted[kRx];
    postControlRecv(*static_cast<ControlOp*>(error.op_context));
    strangers.dropped(providerName, fmt::format("a control message of {} bytes", error.olen + error.len));
    return;
  }
  const char* detail = fi_cq_strerror(endpoint.cq(), error.prov_errno, error.err_data, nullptr, 0);
  const std::string what = error.op_context != nullptr
                               ? describeOperation(static_cast<const Context*>(error.op_context))
                               : std::string("a remote write");
  if (error.err == FI_ETRUNC && error.op_context != nullptr &&
      static_cast<const Context*>(error.op_context)->kind == Context::Kind::Recv) {
    const auto* op = static_cast<const RecvOp*>(error.op_context);
    failMismatch(
        op->peer, op->seq, op->bytes, op->tag,
        Status::make(ErrorCode::Remote,
                     "ofi: rank {} sent message {} to rank {} longer than the {} bytes expected for operation {} "
                     "(the ranks disagree on the sequence of collectives)",
                     op->peer, op->seq, params.rank, op->bytes, op->tag)
            .withMismatch(op->peer, 0));  // the sender's operation is not on the wire here
    return;
  }
  // An operation with one peer that fails (other than by truncation, above) means that peer
  // cannot be reached: recorded, so the runtime asks the store whether it had failed first
  // (src/runtime/failure_accounts.cpp), as over tcp and shm.
  const int peer = error.op_context != nullptr ? peerOfOperation(static_cast<const Context*>(error.op_context)) : -1;
  if (peer >= 0) {
    Peer& lost = peers[static_cast<std::size_t>(peer)];
    if (lost.gone.empty()) {
      lost.gone = fmt::format("cannot be reached: rank {} {} failed: {}{}{}", params.rank, what, fi_strerror(error.err),
                              detail != nullptr ? ": " : "", detail != nullptr ? detail : "");
    }
    failAll(lostStatus(peer));
    return;
  }
  failAll(Status::make(ErrorCode::Remote, "ofi ({}): rank {} {} failed: {}{}{}", providerName, params.rank, what,
                       fi_strerror(error.err), detail != nullptr ? ": " : "", detail != nullptr ? detail : ""));
}

// Reads every completion there is (which is also what drives providers with manual
// progress); returns how many.
std::size_t OfiTransport::Impl::readQueue() {
  std::size_t count = 0;
  fi_cq_data_entry entries[16];
  fi_addr_t sources[16];
  while (!shutDown) {
    ssize_t ret = 0;
    {
      ProviderWatchdog::Inside inside(watchdog.get());
      ret = checkSources ? fi_cq_readfrom(endpoint.cq(), entries, std::size(entries), sources)
                         : fi_cq_read(endpoint.cq(), entries, std::size(entries));
    }
    if (ret > 0) {
      for (ssize_t i = 0; i < ret && !shutDown; ++i) dispatch(entries[i], checkSources ? sources[i] : FI_ADDR_UNSPEC);
      count += static_cast<std::size_t>(ret);
      continue;
    }
    if (ret == -FI_EAGAIN) break;
    if (ret == -FI_EAVAIL) {
      readError();
      ++count;
      continue;
    }
    failAll(Status::make(ErrorCode::System, "ofi: reading the completion queue: {}", fiText(ret)));
    break;
  }
  return count;
}

// Closes the endpoint (which cancels everything posted: no buffer of a failed operation is
// touched after its completion ran), fails every operation, drops every registration.
void OfiTransport::Impl::failAll(const Status& failed) {
  if (shutDown) return;
  // A mismatch found first stays the reason: the peer closing on us (it found the same
  // mismatch) or our own Mismatch message failing to leave is only its echo.
  const Status why = doomed ? *doomed : failed;
  shutDown = true;
  failure = why;
  endpoint.closeEndpoint();
  waiting[kTx].clear();
  waiting[kRx].clear();
  pendingControl.clear();
  for (Context* context : live) {
    if (context->kind == Context::Kind::Send) {
      auto* op = static_cast<SendOp*>(context);
      if (!op->detached) due.emplace_back(std::move(op->done), why);
      delete op;
    } else if (context->kind == Context::Kind::Recv) {
      auto* op = static_cast<RecvOp*>(context);
      due.emplace_back(std::move(op->done), why);
      delete op;
    } else {
      delete static_cast<WriteOp*>(context);
    }
  }
  live.clear();
  detachedLive = 0;
  rmaRecvs.clear();
  for (auto& peer : peers) {
    peer.awaitingReady.clear();
    peer.earlyReady.clear();
    peer.heldForCredit.clear();  // the operations themselves were in `live`
    peer.heldReceives.clear();
  }
  if (registry) registry->clear();
}

// Before the endpoint closes with nothing of the caller's outstanding, the sends it was told
// had completed (held for credit) still leave: a rank that finished its last collective
// must not take with it the messages its peers still wait for. Bounded by BANYAN_TIMEOUT,
// and ends at once when such a peer's process has exited. Under `lock`.
void OfiTransport::Impl::drainDetached(std::unique_lock<std::mutex>& lock) {
  const auto deadline = std::chrono::steady_clock::now() + params.timeout;
  while (!shutDown && detachedLive > 0 && live.size() == detachedLive && std::chrono::steady_clock::now() < deadline) {
    readQueue();
    retryBlocked();
    for (std::size_t rank = 0; rank < peers.size(); ++rank) {
      if (!peers[rank].heldForCredit.empty() && processEnded(static_cast<int>(rank))) return;
    }
    lock.unlock();
    std::this_thread::sleep_for(kNap);
    lock.lock();
  }
}

}  // namespace banyan::transport::ofi
