#include <rdma/fi_tagged.h>

#include "transports/ofi/ofi_transport_impl.hpp"

namespace banyan::transport::ofi {

void OfiTransport::Impl::finish(SendOp* op, const Status& status) {
  if (op->pinnedLocal) registry->unpinLocal(op->data, op->bytes);
  if (!op->detached) due.emplace_back(std::move(op->done), status);
  if (op->detached) --detachedLive;
  live.erase(op);
  delete op;
}

void OfiTransport::Impl::finish(RecvOp* op, const Status& status) {
  if (op->pinned) {
    if (op->rma) {
      registry->unpin(op->data, op->bytes);
    } else {
      registry->unpinLocal(op->data, op->bytes);
    }
  }
  if (op->rma) rmaRecvs.erase(op->id);
  if (!op->rma && status.isOk()) eagerReceived(op->peer);
  due.emplace_back(std::move(op->done), status);
  live.erase(op);
  delete op;
}

void OfiTransport::Impl::postEagerSend(SendOp* op, const Peer& peer) {
  void* desc = registry->localDescriptor(op->data, op->bytes);
  op->pinnedLocal = registry->localRequired();
  const fi_addr_t dest = peer.addr;
  const std::uint64_t tag = dataTag(params.rank, op->seq);
  post(
      kTx,
      [this, op, desc, dest, tag] {
        return cqDataMask != 0
                   ? fi_tsenddata(endpoint.ep(), op->data, op->bytes, desc, op->tag & cqDataMask, dest, tag, &op->fi)
                   : fi_tsend(endpoint.ep(), op->data, op->bytes, desc, dest, tag, &op->fi);
      },
      op->peer);
}

// An eager send goes out now if the peer has a credit for it and none is waiting before it.
// Otherwise it waits for one from a copy, and its caller is told at once that it completed:
// the collectives count on eager sends completing without the receiver (a rank reuses a
// slot once its send completed, and only then posts the receive its peer's progress needs),
// and a send that waited for the receiver's credit could close that circle (seen: 5 ranks,
// 1 MiB in 64-byte slices, every rank's sends held and every receive unposted).
void OfiTransport::Impl::sendEager(SendOp* op, Peer& peer) {
  if (peer.heldForCredit.empty() && credits.take(op->peer)) {
    postEagerSend(op, peer);
    return;
  }
  op->copy.assign(op->data, op->data + op->bytes);
  op->data = op->copy.data();
  op->detached = true;
  ++detachedLive;
  due.emplace_back(std::move(op->done), Status::ok());
  peer.heldForCredit.push_back(op);
}

// The peer gave credits back: the sends that waited for them go, in order.
void OfiTransport::Impl::creditsArrived(int rank, std::uint32_t count) {
  Peer& peer = peers[static_cast<std::size_t>(rank)];
  credits.give(rank, count);
  while (!shutDown && !peer.heldForCredit.empty() && credits.take(rank)) {
    SendOp* op = peer.heldForCredit.front();
    peer.heldForCredit.pop_front();
    postEagerSend(op, peer);
  }
}

// An eager receive is posted now if its peer has fewer than its share posted.
void OfiTransport::Impl::receiveEager(RecvOp* op, Peer& peer) {
  if (peer.heldReceives.empty() && credits.mayPost(op->peer)) {
    postEagerRecv(op);
  } else {
    peer.heldReceives.push_back(op);
  }
}

// A message from `rank` was received: its next held receive goes up, and its sender gets
// credits back once a batch has come.
void OfiTransport::Impl::eagerReceived(int rank) {
  if (!credits.enabled()) return;
  const std::uint32_t count = credits.received(rank);
  Peer& peer = peers[static_cast<std::size_t>(rank)];
  while (!shutDown && !peer.heldReceives.empty() && credits.mayPost(rank)) {
    RecvOp* next = peer.heldReceives.front();
    peer.heldReceives.pop_front();
    postEagerRecv(next);
  }
  if (count > 0 && !shutDown) {
    ControlMessage credit;
    credit.kind = ControlKind::Credit;
    credit.from = params.rank;
    credit.pieces = count;
    sendControl(rank, credit);
  }
}

void OfiTransport::Impl::postEagerRecv(RecvOp* op) {
  void* desc = registry->localDescriptor(op->data, op->bytes);
  op->pinned = registry->localRequired();
  const std::uint64_t tag = dataTag(op->peer, op->seq);
  // Directed: only the peer's address matches (membership.hpp).
  const fi_addr_t from = checkSources ? peers[static_cast<std::size_t>(op->peer)].addr : FI_ADDR_UNSPEC;
  if (guard) {
    // The user's buffer, then the guard: a longer message lands its excess there and
    // completes with its whole length, which the length check below reports.
    post(kRx, [this, op, desc, tag, from] {
      iovec iov[2] = {{op->data, op->bytes}, {guard->data(), guard->size()}};
      void* descs[2] = {desc, nullptr};
      return fi_trecvv(endpoint.ep(), iov, descs, 2, from, tag, 0, &op->fi);
    });
    return;
  }
  post(kRx, [this, op, desc, tag, from] {
    return fi_trecv(endpoint.ep(), op->data, op->bytes, desc, from, tag, 0, &op->fi);
  });
}

}  // namespace banyan::transport::ofi
