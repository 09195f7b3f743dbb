#pragma once
// The layout of a rank's arena segment in shared memory (shm_collectives.hpp): a header that
// peers poll (epoch, posted calls, sleeping word) and two halves used by alternate rounds.
// Every rank of a communicator maps every other rank's segment; only its owner writes it.

#include "common/call.hpp"
#include "common/collective.hpp"
#include "common/hash_mix.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace banyan::intrahost {

// Half of a rank's arena: the most one round moves per rank. 1 MiB halves keep a round's
// working set (p halves read, one written) within the last-level cache for a few ranks, and a
// 64 MiB collective then takes 64 rounds, whose synchronisations cost little against the copies.
constexpr std::size_t kHalfBytes = std::size_t{1} << 20;
// Up to this size an allreduce reduces the whole vector on every rank after a single
// synchronisation: for small vectors the second synchronisation costs more than the p-fold
// arithmetic it saves.
constexpr std::size_t kSmallBytes = 16 * 1024;
constexpr std::size_t kHeaderBytes = 4096;

// The call a rank is in, with its buffers' addresses in its own address space (read by peers
// with process_vm_readv), so ranks that disagree on the call find out.
struct alignas(64) Fingerprint {
  std::uint64_t sequence;
  std::uint64_t count;
  std::uint32_t kind;
  std::uint32_t type;
  std::uint32_t op;
  std::uint32_t valid;
  std::uint64_t input;
  std::uint64_t output;
  std::uint32_t root;
};

// What ranks must agree on in one 64-bit word (the operation sequence included). It sits beside
// the epoch, in the cache line every peer reads anyway to synchronise, so the call check costs
// no cache-line transfer of its own; only a mismatch reads the full Fingerprint to name the calls.
// (Read from the separate Fingerprint line, the check cost 11-13% of an 8 B and a 1 KiB 2-rank
// allreduce: bench/check-cost.sh.)
inline std::uint64_t callSummary(const Fingerprint& f) {
  HashMix h;
  h.add(f.sequence).add(f.count).add(f.kind).add(f.type);
  if (reduces(static_cast<Collective>(f.kind))) h.add(f.op);
  if (isRooted(static_cast<Collective>(f.kind))) h.add(f.root);
  return h.value();
}

struct alignas(64) ArenaHeader {
  alignas(64) std::atomic<std::uint64_t> epoch;  // synchronisation points this rank has passed
  std::atomic<std::uint64_t> summary[2];         // callSummary(posted[k]), in epoch's cache line
  alignas(64) std::atomic<std::uint32_t> sleeping;
  std::atomic<std::uint32_t> closed;
  std::int64_t pid;
  std::uint64_t probe;  // cross-memory probe word, and its address in the owner
  std::uint64_t probeAddress;
  std::uint32_t readsEveryPeer;  // 1: this rank can process_vm_readv every peer
  // posted[k % 2]: the k-th operation of this engine. Rewritten two operations later, after
  // every peer has published the operation in between, so no peer still reads it.
  Fingerprint posted[2];
};
static_assert(sizeof(ArenaHeader) <= kHeaderBytes);

constexpr std::size_t kHalfStride = kHalfBytes;
constexpr std::size_t kArenaBytes = kHeaderBytes + 2 * kHalfStride;

// A peer's posted call as mismatch errors name calls (common/call.hpp).
inline std::string describePosted(const Fingerprint& f) {
  return describeCall(static_cast<Collective>(f.kind), f.count, static_cast<DataType>(f.type),
                      static_cast<ReduceOp>(f.op), static_cast<int>(f.root), f.sequence);
}

}  // namespace banyan::intrahost
