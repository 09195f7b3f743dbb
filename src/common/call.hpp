#pragma once
// A call as the caller made it: the vocabulary the API front checks, the runtime queues, the
// engines run and the failure path names. `count` is the per-rank count the API names
// (allgather, gather, scatter: one rank's block; reduce-scatter: the received block; alltoall:
// one peer's block; alltoallv: the elements this rank sends in all). Buffers a rank does not
// have (the receive buffer off the root of reduce or gather, the send buffer off the root of
// scatter, both of a barrier) may be null.

#include "common/collective.hpp"

#include <banyan/compression.hpp>
#include <banyan/types.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace banyan {

// Alltoallv's tables, copied from the caller (four tables of size() entries).
struct BlockTables {
  std::vector<std::size_t> sendCounts, sendOffsets, recvCounts, recvOffsets;
};

struct CollectiveCall {
  Collective kind;
  const void* send;
  void* recv;
  std::size_t count;
  DataType type;
  ReduceOp op;
  int root = 0;                                         // rooted collectives only
  std::shared_ptr<const BlockTables> blocks = nullptr;  // alltoallv only
  // A premultiplied sum (op is sum): each rank's input is scaled by this first.
  std::optional<double> premulFactor = std::nullopt;
  // A compressed allreduce (allreduce of f32 sum only; docs/numerics.md). The runner encodes
  // the input before the engine runs and decodes the result after it.
  Compression compression{};
  // How a compressed allreduce runs in the schedule engine, set by the runner, never by the API:
  // `unitBytes`, when not 0, is the size of what the engines carry as one element (int8 blocks;
  // `count` is then in blocks), and `reduceWith`, when set, replaces the (type, op) kernel in
  // every Reduce step (decode, add in f32, encode, and keep the re-encoding's residual).
  std::size_t unitBytes = 0;
  using Reducer = std::function<void(void* dst, const void* a, const void* b, std::size_t count)>;
  Reducer reduceWith = nullptr;
};

// Bytes of one element as the engines carry it: unitBytes when set, else the type's size.
inline std::size_t carriedElementBytes(const CollectiveCall& call) {
  return call.unitBytes != 0 ? call.unitBytes : dataTypeSize(call.type);
}

// The residual vector of an ErrorFeedback, for the API front (which binds it to a buffer's
// count) and the runner (which feeds it back).
namespace detail {
struct ErrorFeedbackAccess {
  static std::vector<float>& residual(ErrorFeedback& feedback) { return feedback.residual_; }
};
}  // namespace detail

// One send or receive (peer may be the API's kAnySource for a receive).
struct PointToPointCall {
  bool isSend;
  const void* send;
  void* recv;
  std::size_t count;
  DataType type;
  int peer;
  int tag;
};

// The short form every rank can compare, as mismatch errors print it:
// "allreduce(count=1024,f32,sum) #17", "barrier() #3". The op only where the collective
// reduces, the root only where it has one.
std::string describeCall(Collective kind, std::size_t count, DataType type, ReduceOp op, int root,
                         std::uint64_t sequence);

}  // namespace banyan
