#include "transports/ofi/ofi_operations.hpp"

#include <fmt/format.h>

namespace banyan::transport::ofi {

std::string describeOperation(const Context* context) {
  switch (context->kind) {
    case Context::Kind::Send: {
      const auto* op = static_cast<const SendOp*>(context);
      return fmt::format("sending {} bytes to rank {}", op->bytes, op->peer);
    }
    case Context::Kind::Recv: {
      const auto* op = static_cast<const RecvOp*>(context);
      return fmt::format("receiving {} bytes from rank {}", op->bytes, op->peer);
    }
    case Context::Kind::Write: {
      const auto* op = static_cast<const WriteOp*>(context)->send;
      return fmt::format("writing {} bytes into rank {}", op->bytes, op->peer);
    }
    case Context::Kind::ControlSend:
      return fmt::format("sending a control message to rank {}", static_cast<const ControlOp*>(context)->peer);
    case Context::Kind::ControlRecv:
      return "receiving a control message";
  }
  return "?";
}

int peerOfOperation(const Context* context) {
  switch (context->kind) {
    case Context::Kind::Send:
      return static_cast<const SendOp*>(context)->peer;
    case Context::Kind::Recv:
      return static_cast<const RecvOp*>(context)->peer;
    case Context::Kind::Write:
      return static_cast<const WriteOp*>(context)->send->peer;
    case Context::Kind::ControlSend:
      return static_cast<const ControlOp*>(context)->peer;
    case Context::Kind::ControlRecv:
      return -1;
  }
  return -1;
}

}  // namespace banyan::transport::ofi
