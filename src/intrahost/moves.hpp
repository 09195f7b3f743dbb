#pragma once
// Who gives whom which block in the collectives that only move data (allgather, broadcast,
// alltoall, gather, scatter), as the shared-memory engine runs them. A block is `count`
// elements: the caller's count of each of these collectives. Every move copies block `source`
// of rank `from`'s send buffer into block `target` of rank `to`'s receive buffer:
//
//   allgather  every rank to every rank: source 0, target from
//   broadcast  the root to every rank:   source 0, target 0
//   alltoall   every rank to every rank: source to, target from
//   gather     every rank to the root:   source 0, target from
//   scatter    the root to every rank:   source to, target 0
//
// One table drives both ways the engine moves data (shm_collectives.hpp): through the arena,
// where rank `from` writes block `source` into slot `source` of its half once for all its
// receivers, and straight from the owner's buffer with process_vm_readv.

#include "common/collective.hpp"

#include <cstddef>
#include <optional>

namespace banyan::intrahost {

struct Move {
  std::size_t source;  // block of the sender's send buffer
  std::size_t target;  // block of the receiver's receive buffer
};

inline bool movesOnly(Collective kind) {
  return kind == Collective::Allgather || kind == Collective::Broadcast || kind == Collective::Alltoall ||
         kind == Collective::Gather || kind == Collective::Scatter;
}

// The move from rank `from` to rank `to` (from == to included: a rank's own block), if any.
inline std::optional<Move> moveOf(Collective kind, int from, int to, int root) {
  const auto f = static_cast<std::size_t>(from);
  const auto t = static_cast<std::size_t>(to);
  switch (kind) {
    case Collective::Allgather:
      return Move{0, f};
    case Collective::Broadcast:
      if (from == root) return Move{0, 0};
      return std::nullopt;
    case Collective::Alltoall:
      return Move{t, f};
    case Collective::Gather:
      if (to == root) return Move{0, f};
      return std::nullopt;
    case Collective::Scatter:
      if (from == root) return Move{t, 0};
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// Slots a sender's half holds per round: one per distinct source block (the same block serves
// every receiver of an allgather, broadcast or gather).
inline std::size_t slotsOf(Collective kind, int size) {
  return kind == Collective::Alltoall || kind == Collective::Scatter ? static_cast<std::size_t>(size) : 1;
}

}  // namespace banyan::intrahost
