#include <rdma/fi_rma.h>

#include <algorithm>

#include "transports/ofi/ofi_transport_impl.hpp"

namespace banyan::transport::ofi {

void OfiTransport::Impl::postRmaRecv(RecvOp* op, Peer& peer) {
  const Region region = registry->pin(op->data, op->bytes);
  op->pinned = true;
  op->id = nextId++ & (cqDataMask != 0 ? cqDataMask : ~std::uint64_t{0});
  op->piecesLeft = piecesOf(op->bytes);
  rmaRecvs[op->id] = op;
  ControlMessage ready;
  ready.kind = ControlKind::Ready;
  ready.from = params.rank;
  ready.pieces = op->piecesLeft;
  ready.seq = op->seq;
  ready.bytes = op->bytes;
  ready.operation = op->tag;
  ready.address = region.address;
  ready.key = region.key;
  ready.id = op->id;
  sendControl(static_cast<int>(&peer - peers.data()), ready);
}

// The receiver is ready for `op`: check that both sides mean the same message, then write it.
// Whether the receiver's Ready describes the message `op` sends; if not, fails
// both sides with the mismatch (the operation tag the receiver expects is its call's).
bool OfiTransport::Impl::agrees(SendOp* op, const ControlMessage& expected) {
  const bool same =
      expected.bytes == op->bytes && expected.operation == op->tag && expected.pieces == piecesOf(op->bytes);
  if (!same) {
    failMismatch(op->peer, op->seq, op->bytes, op->tag,
                 Status::make(ErrorCode::Remote,
                              "ofi: rank {} expects {} bytes for operation {} as message {} from rank {}, but rank {} "
                              "sends {} bytes for operation {} (the ranks disagree on the sequence of collectives)",
                              op->peer, expected.bytes, expected.operation, op->seq, params.rank, params.rank,
                              op->bytes, op->tag)
                     .withMismatch(op->peer, expected.operation));
  }
  return same;
}

void OfiTransport::Impl::startWrites(SendOp* op, const ControlMessage& ready) {
  if (!agrees(op, ready)) return;
  const Peer& peer = peers[static_cast<std::size_t>(op->peer)];
  void* desc = registry->localDescriptor(op->data, op->bytes);
  op->pinnedLocal = registry->localRequired();
  op->id = ready.id;
  op->writesLeft = ready.pieces;
  for (std::uint32_t i = 0; i < ready.pieces; ++i) {
    const std::size_t offset = static_cast<std::size_t>(i) * maxWrite;
    const std::size_t length = std::min(maxWrite, op->bytes - offset);
    auto* write = new WriteOp(op);
    live.insert(write);
    const fi_addr_t dest = peer.addr;
    const std::uint64_t address = ready.address + offset;
    const std::uint64_t key = ready.key;
    const std::byte* from = op->data + offset;
    if (notify == RmaNotify::CqData) {
      post(
          kTx,
          [this, write, from, length, desc, dest, address, key, id = ready.id] {
            return fi_writedata(endpoint.ep(), from, length, desc, id, dest, address, key, &write->fi);
          },
          op->peer);
    } else {
      // Delivery complete: once the write completes here the data is in place there, so the
      // Done message that follows cannot overtake it.
      post(
          kTx,
          [this, write, from, length, desc, dest, address, key] {
            iovec iov{const_cast<std::byte*>(from), length};
            void* descs[1] = {desc};
            fi_rma_iov rma{address, length, key};
            fi_msg_rma msg{};
            msg.msg_iov = &iov;
            msg.desc = descs;
            msg.iov_count = 1;
            msg.addr = dest;
            msg.rma_iov = &rma;
            msg.rma_iov_count = 1;
            msg.context = &write->fi;
            return fi_writemsg(endpoint.ep(), &msg, FI_COMPLETION | FI_DELIVERY_COMPLETE);
          },
          op->peer);
    }
  }
}

// Remote CQ data (one per piece) or a Done message (all pieces) for the receive `id`.
void OfiTransport::Impl::writeArrived(std::uint64_t id, bool all) {
  auto it = rmaRecvs.find(id);
  if (it == rmaRecvs.end()) {
    failAll(Status::make(ErrorCode::Remote,
                         "ofi: rank {} was told of a write into receive {}, which it is not "
                         "waiting for",
                         params.rank, id));
    return;
  }
  RecvOp* op = it->second;
  op->piecesLeft = all ? 0 : op->piecesLeft - 1;
  if (op->piecesLeft == 0) finish(op, Status::ok());
}

}  // namespace banyan::transport::ofi
