#pragma once
// The operations the ofi transport hands to libfabric. Each starts with its fi_context2
// (hints->mode FI_CONTEXT2), so a completion's op_context leads back to it; the Kind says which
// of the structs below it is.

#include <rdma/fabric.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "transports/ofi/ofi_wire.hpp"
#include "transports/transport.hpp"

namespace banyan::transport::ofi {

struct Context {
  enum class Kind : std::uint8_t { Send, Recv, Write, ControlSend, ControlRecv };
  explicit Context(Kind k) : kind(k) {}
  fi_context2 fi{};
  Kind kind;
};

struct SendOp : Context {
  SendOp() : Context(Kind::Send) {}
  int peer = -1;
  std::uint64_t seq = 0;
  std::uint64_t tag = 0;
  const std::byte* data = nullptr;
  std::size_t bytes = 0;
  Completion done;
  bool rma = false;
  bool pinnedLocal = false;  // holds a local-descriptor pin (FI_MR_LOCAL)
  std::uint32_t writesLeft = 0;
  std::uint64_t id = 0;  // the receiver's id for this message (RMA)
  // A send held for credit (flow_control.hpp) travels from this copy, and its caller was told
  // it completed when the copy was made: `done` is spent.
  std::vector<std::byte> copy;
  bool detached = false;
};

struct RecvOp : Context {
  RecvOp() : Context(Kind::Recv) {}
  int peer = -1;
  std::uint64_t seq = 0;
  std::uint64_t tag = 0;
  std::byte* data = nullptr;
  std::size_t bytes = 0;
  Completion done;
  bool rma = false;
  bool pinned = false;  // holds a pin: the RMA target region, or a local descriptor
  std::uint64_t id = 0;
  std::uint32_t piecesLeft = 0;
};

struct WriteOp : Context {
  explicit WriteOp(SendOp* s) : Context(Kind::Write), send(s) {}
  SendOp* send;
};

struct ControlOp : Context {
  ControlOp() : Context(Kind::ControlRecv) {}
  ControlMessage* slot = nullptr;
  int peer = -1;  // ControlSend: where it goes
};

// What an operation is doing, for error messages ("sending 64 bytes to rank 2").
std::string describeOperation(const Context* context);
// The peer an operation is with, or -1 (a control receive: any peer).
int peerOfOperation(const Context* context);

}  // namespace banyan::transport::ofi
