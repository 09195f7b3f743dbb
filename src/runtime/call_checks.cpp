#include "runtime/call_checks.hpp"

#include "common/status.hpp"

#include <banyan/communicator.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace banyan::detail {

namespace {

// How many elements this rank's send and receive buffers hold for a call (zero: the rank has no
// such buffer, and it may be null), and where the send buffer sits when the call is in place: by
// convention per collective, the send buffer equals the receive buffer (SameBuffer), is the
// receive buffer's block `block` (SendIsBlock), or contains the receive buffer as its block
// `block` (RecvIsBlock).
struct BufferShape {
  std::size_t sendElements, recvElements;
  enum class InPlace { SameBuffer, SendIsBlock, RecvIsBlock, Never } inPlace = InPlace::SameBuffer;
  int block;
  const char* inPlaceRule = "send == recv";
};

BufferShape bufferShape(const CollectiveCall& r, int rank, int size) {
  const std::size_t n = static_cast<std::size_t>(size);
  const bool isRoot = rank == r.root;
  const std::size_t c = r.count;
  BufferShape s{c, c, BufferShape::InPlace::SameBuffer, rank};
  using InPlace = BufferShape::InPlace;
  switch (r.kind) {
    case Collective::Allreduce:
      break;
    case Collective::Allgather:
      s.recvElements = n * c;
      s.inPlace = InPlace::SendIsBlock;
      s.inPlaceRule = "send == recv + rank * count * element size";
      break;
    case Collective::ReduceScatter:
      s.sendElements = n * c;
      s.inPlace = InPlace::RecvIsBlock;
      s.inPlaceRule = "recv == send + rank * recvCount * element size";
      break;
    case Collective::Broadcast:
      s.sendElements = isRoot ? c : 0;
      break;
    case Collective::Reduce:
      s.recvElements = isRoot ? c : 0;
      break;
    case Collective::Gather:
      s.recvElements = isRoot ? n * c : 0;
      s.inPlace = InPlace::SendIsBlock;
      s.block = r.root;
      s.inPlaceRule = "on the root, send == recv + root * count * element size";
      break;
    case Collective::Scatter:
      s.sendElements = isRoot ? n * c : 0;
      s.inPlace = InPlace::RecvIsBlock;
      s.block = r.root;
      s.inPlaceRule = "on the root, recv == send + root * count * element size";
      break;
    case Collective::Alltoall:
      s.sendElements = s.recvElements = n * c;
      s.inPlace = InPlace::Never;
      break;
    case Collective::Barrier:
    case Collective::Alltoallv:  // checkBlocks
      s.sendElements = s.recvElements = 0;
      break;
  }
  return s;
}

// Null buffers and overlap, for a call whose count is not zero.
void checkBuffers(const CollectiveCall& r, int rank, int size) {
  const char* what = apiName(r.kind);
  const BufferShape shape = bufferShape(r, rank, size);
  const std::size_t sendElements = shape.sendElements, recvElements = shape.recvElements;
  using InPlace = BufferShape::InPlace;
  if (sendElements > 0 && r.send == nullptr) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): send buffer is null on rank {}", what, r.count, rank);
  }
  if (recvElements > 0 && r.recv == nullptr) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): receive buffer is null on rank {}", what, r.count, rank);
  }
  if (sendElements == 0 || recvElements == 0) return;  // one buffer: nothing can overlap

  // Out of place, the buffers must not overlap: the schedule would read what it already wrote.
  const std::size_t element = dataTypeSize(r.type);
  const auto* sendBegin = static_cast<const std::byte*>(r.send);
  const auto* recvBegin = static_cast<const std::byte*>(r.recv);
  const std::size_t blockBytes = static_cast<std::size_t>(shape.block) * r.count * element;
  const bool overlap = sendBegin < recvBegin + recvElements * element && recvBegin < sendBegin + sendElements * element;
  if (!overlap) return;
  bool isInPlace = false;
  switch (shape.inPlace) {
    case InPlace::SameBuffer:
      isInPlace = sendBegin == recvBegin;
      break;
    case InPlace::SendIsBlock:
      isInPlace = sendBegin == recvBegin + blockBytes;
      break;
    case InPlace::RecvIsBlock:
      isInPlace = recvBegin == sendBegin + blockBytes;
      break;
    case InPlace::Never:
      // The pairwise schedule would overwrite a block before sending it; copying the input
      // aside would hide a second buffer of the full size, so the caller decides.
      fail(ErrorCode::InvalidUsage,
           "{}(count={}): send and receive buffers overlap on rank {}; {} works out of place only (copy the "
           "input to a separate buffer first)",
           what, r.count, rank, what);
  }
  if (!isInPlace) {
    fail(ErrorCode::InvalidUsage,
         "{}(count={}): send and receive buffers overlap without being in place on rank {} (in place means {})", what,
         r.count, rank, shape.inPlaceRule);
  }
}

// Alltoallv: four tables of size() entries, blocks that fit the address space, receive blocks
// that do not overlap, and send and receive buffers that do not overlap (out of place only).
void checkBlocks(const CollectiveCall& r, int rank, int size) {
  const BlockTables& t = *r.blocks;
  const std::size_t n = static_cast<std::size_t>(size);
  const std::pair<const char*, const std::vector<std::size_t>*> tables[] = {{"sendCounts", &t.sendCounts},
                                                                            {"sendOffsets", &t.sendOffsets},
                                                                            {"recvCounts", &t.recvCounts},
                                                                            {"recvOffsets", &t.recvOffsets}};
  for (const auto& [label, table] : tables) {
    if (table->size() != n) {
      fail(ErrorCode::InvalidUsage, "alltoallv: {} has {} entries, expected one per rank ({}) on rank {}", label,
           table->size(), n, rank);
    }
  }
  const std::size_t element = dataTypeSize(r.type);
  const std::size_t limit = (std::size_t{1} << 60) / element;
  // Extent of each buffer in elements, checking every block on the way.
  const auto extent = [&](const std::vector<std::size_t>& counts, const std::vector<std::size_t>& offsets,
                          const char* side) {
    std::size_t end = 0;
    for (std::size_t p = 0; p < n; ++p) {
      if (counts[p] > limit || offsets[p] > limit - counts[p]) {
        fail(ErrorCode::InvalidUsage,
             "alltoallv: {} block for rank {} (offset {}, count {}) overflows the address "
             "space on rank {}",
             side, p, offsets[p], counts[p], rank);
      }
      if (counts[p] != 0) end = std::max(end, offsets[p] + counts[p]);
    }
    return end;
  };
  const std::size_t sendEnd = extent(t.sendCounts, t.sendOffsets, "send");
  const std::size_t recvEnd = extent(t.recvCounts, t.recvOffsets, "receive");
  if (sendEnd > 0 && r.send == nullptr) {
    fail(ErrorCode::InvalidUsage, "alltoallv: send buffer is null but sendCounts are not all zero on rank {}", rank);
  }
  if (recvEnd > 0 && r.recv == nullptr) {
    fail(ErrorCode::InvalidUsage, "alltoallv: receive buffer is null but recvCounts are not all zero on rank {}", rank);
  }
  // Receive blocks must not overlap: sort them by offset and compare neighbours.
  std::vector<std::size_t> order;
  for (std::size_t p = 0; p < n; ++p) {
    if (t.recvCounts[p] != 0) order.push_back(p);
  }
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return t.recvOffsets[a] < t.recvOffsets[b]; });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const std::size_t before = order[i - 1], after = order[i];
    if (t.recvOffsets[before] + t.recvCounts[before] > t.recvOffsets[after]) {
      fail(ErrorCode::InvalidUsage, "alltoallv: receive blocks from ranks {} and {} overlap on rank {}", before, after,
           rank);
    }
  }
  if (sendEnd == 0 || recvEnd == 0) return;
  const auto* sendBegin = static_cast<const std::byte*>(r.send);
  const auto* recvBegin = static_cast<const std::byte*>(r.recv);
  if (sendBegin < recvBegin + recvEnd * element && recvBegin < sendBegin + sendEnd * element) {
    fail(ErrorCode::InvalidUsage,
         "alltoallv: send and receive buffers overlap on rank {}; alltoallv works out of place only", rank);
  }
}

// A compressed allreduce: f32 sum of a known format, and a residual unbound or bound to this
// buffer's count.
void checkCompression(const CollectiveCall& r, int rank) {
  const CompressionFormat format = r.compression.format;
  if (format == CompressionFormat::none) return;
  const char* what = apiName(r.kind);
  if (static_cast<unsigned>(format) > static_cast<unsigned>(CompressionFormat::int8)) {
    fail(ErrorCode::InvalidUsage, "{}: invalid compression format (value {}) on rank {}", what,
         static_cast<int>(format), rank);
  }
  const bool sumOfF32 = r.type == DataType::f32 && r.op == ReduceOp::sum && !r.premulFactor;
  if (r.kind != Collective::Allreduce || !sumOfF32) {
    fail(ErrorCode::InvalidUsage,
         "{}(count={},{},{}{}) with {} compression: compressed allreduce takes an f32 sum only (on rank {})", what,
         r.count, toString(r.type), r.premulFactor ? "premul_" : "", toString(r.op), toString(format), rank);
  }
  if (r.compression.residual == nullptr) return;
  const std::vector<float>& residual = ErrorFeedbackAccess::residual(*r.compression.residual);
  if (!residual.empty() && residual.size() != r.count) {
    fail(ErrorCode::InvalidUsage,
         "allreduce(count={}) with {} compression: its ErrorFeedback holds the residual of a buffer of {} elements "
         "(one ErrorFeedback per gradient buffer; reset() it to rebind) on rank {}",
         r.count, toString(format), residual.size(), rank);
  }
}

}  // namespace

void checkCall(const CollectiveCall& r, int rank, int size) {
  const char* what = apiName(r.kind);
  if (!isValid(r.type)) {
    fail(ErrorCode::InvalidUsage, "{}: invalid data type (value {}) on rank {}", what, static_cast<int>(r.type), rank);
  }
  if (!isValid(r.op)) {
    fail(ErrorCode::InvalidUsage, "{}: invalid reduce op (value {}) on rank {}", what, static_cast<int>(r.op), rank);
  }
  if (reduces(r.kind) && !isDefined(r.type, r.op)) {
    fail(ErrorCode::InvalidUsage, "{}: {} is not defined on {} (bitwise ops need an integer type) on rank {}", what,
         toString(r.op), toString(r.type), rank);
  }
  if (r.premulFactor) {
    const bool floating =
        r.type == DataType::f32 || r.type == DataType::f64 || r.type == DataType::f16 || r.type == DataType::bf16;
    if (!floating) {
      fail(ErrorCode::InvalidUsage, "{}: premul_sum needs a floating-point type, not {}, on rank {}", what,
           toString(r.type), rank);
    }
    if (!std::isfinite(*r.premulFactor)) {
      fail(ErrorCode::InvalidUsage, "{}: premul_sum factor {} is not finite on rank {}", what, *r.premulFactor, rank);
    }
  }
  checkCompression(r, rank);
  if (isRooted(r.kind) && (r.root < 0 || r.root >= size)) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): root {} is outside 0..{} on rank {}", what, r.count, r.root, size - 1,
         rank);
  }
  if (r.kind == Collective::Alltoallv) return checkBlocks(r, rank, size);
  const std::size_t element = dataTypeSize(r.type);
  // Buffers hold up to size * count elements (allgather, reduce-scatter, gather, alltoall).
  if (r.count > std::numeric_limits<std::size_t>::max() / element / static_cast<std::size_t>(size) ||
      r.count > (std::size_t{1} << 60)) {
    fail(ErrorCode::InvalidUsage, "{}: count {} of {} overflows the address space on rank {}", what, r.count,
         toString(r.type), rank);
  }
  if (r.count == 0) return;
  checkBuffers(r, rank, size);
}

void bindErrorFeedback(const CollectiveCall& call) {
  if (call.compression.format == CompressionFormat::none || call.compression.residual == nullptr) return;
  std::vector<float>& residual = ErrorFeedbackAccess::residual(*call.compression.residual);
  if (residual.empty()) residual.assign(call.count, 0.0f);
}

void checkCall(const PointToPointCall& r, int rank, int size) {
  const char* what = r.isSend ? "send" : "recv";
  if (!isValid(r.type)) {
    fail(ErrorCode::InvalidUsage, "{}: invalid data type (value {}) on rank {}", what, static_cast<int>(r.type), rank);
  }
  const bool anySource = !r.isSend && r.peer == Communicator::kAnySource;
  if (!anySource && (r.peer < 0 || r.peer >= size)) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): peer {} is outside 0..{}{} on rank {}", what, r.count, r.peer,
         size - 1, r.isSend ? "" : " (or kAnySource)", rank);
  }
  if (r.tag < 0)
    fail(ErrorCode::InvalidUsage, "{}(count={}): tag {} is negative on rank {}", what, r.count, r.tag, rank);
  if (r.count > (std::size_t{1} << 60) / dataTypeSize(r.type)) {
    fail(ErrorCode::InvalidUsage, "{}: count {} of {} overflows the address space on rank {}", what, r.count,
         toString(r.type), rank);
  }
  if (r.count > 0 && (r.isSend ? r.send == nullptr : r.recv == nullptr)) {
    fail(ErrorCode::InvalidUsage, "{}(count={}): buffer is null on rank {}", what, r.count, rank);
  }
}

}  // namespace banyan::detail
