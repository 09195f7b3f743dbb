#pragma once
// Collectives that use shared memory as memory, not as a pipe, for communicators whose ranks
// all share one host. See docs/shared-memory.md for the design and the bytes each rank moves.
//
// Each rank owns an arena segment: a header (epoch counter, sleeping word) and two halves of
// kHalfBytes, used alternately by successive rounds. A collective proceeds in rounds of at most
// one half:
//
//   allreduce  1. each rank copies the slices of its input that other ranks will reduce into
//                 its half, and bumps its epoch (publish);
//              2. once every rank's epoch has reached the round, rank r reduces slice r over
//                 all ranks, in rank order (so every rank gets bitwise the same result), into
//                 its output and into its half, and publishes again;
//              3. once every rank has, each copies the other slices of the result out.
//              Small inputs (up to kSmallBytes) skip 2-3: every rank reduces the whole vector
//              from all halves after one publish, which costs one synchronisation instead of two.
//   allgather  small blocks: each rank copies its block into its half and publishes; once all
//              have, each copies every other block out. Blocks of 8 KiB x (p-1)^2 and more,
//              where every pair allows process_vm_readv: each rank publishes its buffers'
//              addresses, reads every other block straight from its owner into its output (one
//              copy per block), and publishes again so no rank returns a buffer still being read.
//   broadcast, alltoall, gather, scatter  as allgather, with the blocks each rank gives each
//              other rank of intrahost/moves.hpp: through the arena (a sender writes each block
//              it gives once, into a slot of its half; receivers copy it out), or, from 8 KiB
//              blocks where every pair allows process_vm_readv, straight from the owner's buffer.
//   reduce_scatter  each rank copies the blocks others reduce into its half and publishes;
//              once all have, rank r reduces block r over all ranks in rank order, from the
//              halves and its own input, into its output. One synchronisation per round.
//
// Why the halves are safe to reuse without a third synchronisation: a rank writes half h again
// two rounds later, after it has seen every peer publish the round in between, and a peer
// publishes that round only after it has finished reading half h.
//
// Each operation posts a fingerprint (operation sequence, kind, count, dtype, op, buffer
// addresses) in the rank's header, checked at its first synchronisation, so ranks that disagree
// on the collective fail with an error naming both calls instead of mixing data. Waiting polls; the driver sleeps
// through the same doorbell scheme as the shm transport.

#include "common/collective.hpp"
#include "common/engine.hpp"
#include "common/status.hpp"
#include "reduce/reduce.hpp"
#include "transports/peer_liveness.hpp"

#include <banyan/store.hpp>
#include <banyan/types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace asio {
class any_io_executor;
}

namespace banyan::intrahost {

struct ShmCollectivesParams {
  int rank = 0;
  int size = 1;      // every rank of the communicator is on this host
  std::string name;  // unique per job and communicator
  std::string storePrefix;
  // The transport's single-copy threshold (BANYAN_SHM_CMA_BYTES): 0 means peers' memory is
  // never read directly; otherwise large allgather blocks are, where every pair allows it.
  std::size_t crossMemoryBytes = 64 * 1024;
  std::chrono::milliseconds timeout{300000};
  // BANYAN_CHECK: compare the peers' posted calls with ours before using their data.
  bool checkCalls = true;
  // The communicator's watcher of its peers' exits (transports/peer_liveness.hpp): a peer whose
  // process exits mid-operation fails the operation at once. Null: this engine watches the
  // pids the peers write in their arenas itself.
  std::shared_ptr<const transport::PeerLiveness> liveness = nullptr;
};

struct ShmOperation {
  Collective kind = Collective::Allreduce;
  std::uint64_t sequence = 0;
  const void* input = nullptr;
  void* output = nullptr;
  std::size_t count = 0;  // as CollectiveCall::count: allreduce, broadcast: elements; else a block
  DataType type = DataType::f32;
  ReduceOp op = ReduceOp::sum;
  std::function<void(const Status&)> onDone;  // on the driving thread
  int root = 0;                               // rooted collectives only
};

class ShmCollectives final : public Engine {
 public:
  // Creates this rank's arena and maps every peer's (blocking, through the store).
  ShmCollectives(const asio::any_io_executor& io, std::shared_ptr<Store> store, const ShmCollectivesParams& params);
  ~ShmCollectives();

  // Whether start() should run `kind` with `bytes` per rank (a block, as CollectiveCall::count):
  // allreduce and reduce_scatter always; the moving collectives (moves.hpp) unless their blocks
  // are large and process_vm_readv is not allowed everywhere (then the transport's ring beats
  // the arena's extra copy); never reduce, barrier or alltoallv.
  bool handles(Collective kind, std::size_t bytes) const;

  void start(ShmOperation operation);

  // Engine (common/engine.hpp). poll() advances the running operation; its peers answer in
  // shared memory, so answersInMemory() while it runs. fail() ends the running operation (timeout,
  // abort; no-op when idle). describePending(): "rank 2 (pid 123) to reach step 5 of allreduce #7".
  std::size_t poll() override;
  bool prepareToSleep() override;
  void awake() override;
  bool answersInMemory() const override { return busy(); }
  bool busy() const override;
  void fail(const Status& status) override;
  std::string describePending() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace banyan::intrahost
