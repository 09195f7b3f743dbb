#include "intrahost/shm_collectives.hpp"

#include "algorithms/ring.hpp"
#include "intrahost/arena_layout.hpp"
#include "intrahost/moves.hpp"
#include "transports/peer_liveness.hpp"
#include "transports/shm/cma.hpp"
#include "transports/shm/doorbell.hpp"
#include "transports/shm/segment.hpp"
#include "transports/shm/shm_connect.hpp"

#include <fmt/format.h>
#include <asio.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <vector>

namespace banyan::intrahost {

using transport::shm::Doorbell;
using transport::shm::Segment;

namespace {

// Smallest allgather block read straight from its owner. Direct reads cost a system call per
// peer and a second synchronisation; the arena costs an extra copy. Measured crossovers: 2 ranks
// between 4 and 8 KiB blocks (8 KiB: 2.0 us direct against 2.6 us arena), 4 ranks on 2 cores
// near 64 KiB (16 KiB: 16.4 against 12.2 us; 64 KiB: 41.2-41.9 against 41.6 us), hence
// 8 KiB x (p - 1)^2.
std::size_t directAllgatherBytes(int ranks) {
  const auto peers = static_cast<std::size_t>(ranks - 1);
  return 8 * 1024 * peers * peers;
}

// Smallest block of the other moving collectives (moves.hpp) read straight from its owner.
// Where a rank reads p - 1 blocks (alltoall; gather on its root), allgather's crossover; where
// each reads one (broadcast, scatter), its 2-rank crossover, 8 KiB: one system call against one
// extra copy, whatever the rank count. Not yet measured apart from allgather (the machine was
// too loaded when this was written: bench/RESULTS.md, issue 20).
std::size_t directBytes(Collective kind, int ranks) {
  if (kind == Collective::Broadcast || kind == Collective::Scatter) return 8 * 1024;
  return directAllgatherBytes(ranks);
}

// Arena rounds: Begin -> WaitInputs -> (WaitResults) -> Begin ...
// Direct reads (allgather): WaitPosted -> WaitDone
enum class Phase { Begin, WaitInputs, WaitResults, WaitPosted, WaitDone };

}  // namespace

struct ShmCollectives::Impl {
  struct Peer {
    int rank = -1;
    Segment segment;  // empty for this rank
    std::byte* base = nullptr;
    pid_t pid = 0;
    std::string doorbell;
    std::unique_ptr<asio::posix::stream_descriptor> exitWatch;
    std::string gone;
    bool exited = false;  // its process has ended (not only its connection)
  };

  Impl(const asio::any_io_executor& io, ShmCollectivesParams p) : io(io), params(std::move(p)) {}

  asio::any_io_executor io;
  ShmCollectivesParams params;
  Segment mine;
  std::unique_ptr<Doorbell> doorbell;
  std::vector<Peer> ranks;  // by rank; ranks[params.rank].base is our own arena
  std::uint64_t epoch = 0;
  std::uint64_t rounds = 0;      // rounds started, which picks the half
  std::uint64_t operations = 0;  // operations started, which picks the posted fingerprint
  bool readEveryone = false;     // every rank can process_vm_readv every other
  bool coreEach = false;         // the host has a core for every rank (the same answer on every rank)
  std::size_t populated = 0;     // bytes at the start of each of our halves that have pages

  // The running operation.
  bool running = false;
  ShmOperation op;
  reduce::Kernel kernel = nullptr;
  std::size_t element = 0;
  std::size_t total = 0;  // elements to process (allgather: per rank)
  std::size_t done = 0;   // elements processed
  std::size_t chunk = 0;  // elements of this round (per block where the call has blocks)
  std::size_t slots = 1;  // blocks of `chunk` elements a rank's half holds per round
  int half = 0;
  Phase phase = Phase::Begin;
  std::uint64_t target = 0;
  bool small = false;
  bool direct = false;           // this allgather reads peers' buffers with process_vm_readv
  int posted = 0;                // which posted fingerprint this operation uses
  std::uint64_t ourSummary = 0;  // callSummary of this rank's posted fingerprint

  ArenaHeader* header(int rank) const {
    return reinterpret_cast<ArenaHeader*>(ranks[static_cast<std::size_t>(rank)].base);
  }
  const Fingerprint& fingerprint(int rank) const { return header(rank)->posted[posted]; }
  std::byte* halfData(int rank, int which) const {
    return ranks[static_cast<std::size_t>(rank)].base + kHeaderBytes + static_cast<std::size_t>(which) * kHalfStride;
  }
  int me() const { return params.rank; }
  int size() const { return params.size; }

  // Gives the first `bytes` of both our halves their pages before a round writes there, in
  // powers of two from one page (at most 9 calls over a communicator's life): a fault per page
  // inside the rounds would cost more, and a full /dev/shm fails the call with an error
  // instead of a SIGBUS. Peers read only what we wrote.
  Status populateHalves(std::size_t bytes) {
    bytes = std::min(kHalfBytes, std::bit_ceil(std::max<std::size_t>(bytes, 4096)));
    if (bytes <= populated) return Status::ok();
    try {
      for (int which = 0; which < 2; ++which) {
        Segment::populate(halfData(me(), which), bytes, fmt::format("rank {}'s shared-memory arena", me()));
      }
    } catch (const Error& e) {
      return Status::make(e.code(), "{}", e.detail());
    }
    populated = bytes;
    return Status::ok();
  }

  void publish() {
    // The summary goes out with the epoch, back to back in one cache line: written earlier, at
    // the operation's start, it cost peers polling the epoch a second transfer of the line
    // (10% of a 1 KiB 2-rank allreduce).
    if (params.checkCalls) header(me())->summary[posted].store(ourSummary, std::memory_order_relaxed);
    header(me())->epoch.store(++epoch, std::memory_order_release);
    for (auto& peer : ranks) {
      if (peer.rank == me() || peer.rank < 0) continue;
      if (transport::shm::takeSleeper(header(peer.rank)->sleeping)) doorbell->ring(peer.doorbell);
    }
  }

  int firstBehind() const {
    for (int rank = 0; rank < size(); ++rank) {
      if (rank != me() && header(rank)->epoch.load(std::memory_order_acquire) < target) return rank;
    }
    return -1;
  }

  void finish(const Status& status) {
    running = false;
    // A failed operation hands its buffers back while peers may still be reading them; after a
    // failure the communicator takes no more work, so closing tells them both things at once.
    if (!status.isOk()) announceClosed();
    auto onDone = std::move(op.onDone);
    op = ShmOperation{};
    if (onDone) onDone(status);
  }

  // Every peer must be in the same call as ours.
  bool checkFingerprints() {
    if (!params.checkCalls) return true;
    const Fingerprint& ours = fingerprint(me());
    for (int rank = 0; rank < size(); ++rank) {
      if (rank == me()) continue;
      // Published with the epoch this rank has just acquired, so relaxed is enough.
      if (header(rank)->summary[posted].load(std::memory_order_relaxed) == ourSummary) continue;
      const Fingerprint& theirs = fingerprint(rank);
      const auto kind = static_cast<Collective>(ours.kind);
      if (theirs.sequence != ours.sequence || theirs.count != ours.count || theirs.kind != ours.kind ||
          theirs.type != ours.type || (reduces(kind) && theirs.op != ours.op) ||
          (isRooted(kind) && theirs.root != ours.root)) {
        finish(Status::make(ErrorCode::InvalidUsage, "rank {} called {} while rank {} called {}", rank,
                            describePosted(theirs), me(), describePosted(ours)));
        return false;
      }
    }
    return true;
  }

  const std::byte* input() const { return static_cast<const std::byte*>(op.input); }
  std::byte* output() const { return static_cast<std::byte*>(op.output); }

  // Element `done` of block `b` of the send or receive buffer (blocks of `total` elements).
  const std::byte* inputAt(std::size_t b) const { return input() + (b * total + done) * element; }
  std::byte* outputAt(std::size_t b) const { return output() + (b * total + done) * element; }
  std::byte* slot(int rank, std::size_t s) const { return halfData(rank, half) + s * chunk * element; }

  void beginRound() {
    chunk = std::min(total - done, kHalfBytes / (slots * element));
    half = static_cast<int>(rounds++ & 1);
    if (movesOnly(op.kind)) {
      writeMoves();
    } else if (op.kind == Collective::ReduceScatter) {
      // The blocks other ranks reduce; ours is reduced straight from the input.
      for (int rank = 0; rank < size(); ++rank) {
        const auto b = static_cast<std::size_t>(rank);
        if (rank != me()) std::memcpy(slot(me(), b), inputAt(b), chunk * element);
      }
    } else {
      writeAllreduceInput();
    }
    publish();
    target = epoch;
    phase = Phase::WaitInputs;
  }

  void writeAllreduceInput() {
    std::byte* mine = halfData(me(), half);
    const std::byte* from = input() + done * element;
    if (small) {
      std::memcpy(mine, from, chunk * element);
    } else {
      // Only the slices other ranks reduce; ours is reduced straight from the input.
      for (int rank = 0; rank < size(); ++rank) {
        if (rank == me()) continue;
        const auto part = algorithms::evenPart(chunk, size(), rank);
        std::memcpy(mine + part.offset * element, from + part.offset * element, part.count * element);
      }
    }
  }

  // A round of moves (moves.hpp), first half: each block this rank gives others goes into its
  // slot of our half, once for all its receivers; our own block straight into our output.
  void writeMoves() {
    bool written = false;  // with one slot, every receiver reads the same block
    for (int to = 0; to < size(); ++to) {
      const auto move = moveOf(op.kind, me(), to, op.root);
      if (!move) continue;
      const std::byte* from = inputAt(move->source);
      if (to == me()) {
        std::byte* into = outputAt(move->target);
        if (into != from) std::memcpy(into, from, chunk * element);
      } else if (slots > 1 || !written) {
        std::memcpy(slot(me(), slots > 1 ? move->source : 0), from, chunk * element);
        written = true;
      }
    }
  }

  // Second half, once every rank has written: each block others give us, out of their halves.
  void readMoves() {
    for (int from = 0; from < size(); ++from) {
      if (from == me()) continue;
      if (const auto move = moveOf(op.kind, from, me(), op.root)) {
        std::memcpy(outputAt(move->target), slot(from, slots > 1 ? move->source : 0), chunk * element);
      }
    }
  }

  // Our block over every rank in rank order, read from the others' halves. Accumulated in our
  // output, or in place (the output is our block of the input, which a later term still reads)
  // in our own half's slot for our block, which nobody reads.
  void reduceOurBlock() {
    const auto own = static_cast<std::size_t>(me());
    const auto source = [&](int rank) -> const std::byte* { return rank == me() ? inputAt(own) : slot(rank, own); };
    std::byte* out = output() + done * element;
    const bool inPlace = out == inputAt(own);
    std::byte* acc = inPlace && size() > 2 ? slot(me(), own) : out;
    if (size() == 1) {
      if (acc != source(0)) std::memcpy(acc, source(0), chunk * element);
    } else {
      kernel(acc, source(0), source(1), chunk);
      for (int rank = 2; rank < size(); ++rank) kernel(acc, acc, source(rank), chunk);
    }
    if (op.op == ReduceOp::avg) reduce::divideBy(op.type, acc, chunk, size());
    if (acc != out) std::memcpy(out, acc, chunk * element);
  }

  void afterInputs() {
    if (movesOnly(op.kind)) {
      readMoves();
      endRound();
      return;
    }
    if (op.kind == Collective::ReduceScatter) {
      reduceOurBlock();
      endRound();
      return;
    }
    std::byte* out = output() + done * element;
    if (small) {
      // Rank order, from the halves (never from `out`, which may be our input).
      if (size() == 1) {
        std::memcpy(out, halfData(0, half), chunk * element);
      } else {
        kernel(out, halfData(0, half), halfData(1, half), chunk);
        for (int rank = 2; rank < size(); ++rank) kernel(out, out, halfData(rank, half), chunk);
      }
      if (op.op == ReduceOp::avg) reduce::divideBy(op.type, out, chunk, size());
      endRound();
    } else {
      // Our slice, over every rank in rank order, accumulated in our own half (its slot for
      // our slice is free), then copied out; peers read it from the half.
      const auto part = algorithms::evenPart(chunk, size(), me());
      const std::size_t offset = part.offset * element;
      std::byte* acc = halfData(me(), half) + offset;
      const auto source = [&](int rank) -> const std::byte* {
        return rank == me() ? input() + done * element + offset : halfData(rank, half) + offset;
      };
      if (part.count != 0) {
        kernel(acc, source(0), source(1), part.count);
        for (int rank = 2; rank < size(); ++rank) kernel(acc, acc, source(rank), part.count);
        if (op.op == ReduceOp::avg) reduce::divideBy(op.type, acc, part.count, size());
        std::memcpy(out + offset, acc, part.count * element);
      }
      publish();
      target = epoch;
      phase = Phase::WaitResults;
    }
  }

  void afterResults() {
    std::byte* out = output() + done * element;
    for (int rank = 0; rank < size(); ++rank) {
      if (rank == me()) continue;
      const auto part = algorithms::evenPart(chunk, size(), rank);
      std::memcpy(out + part.offset * element, halfData(rank, half) + part.offset * element, part.count * element);
    }
    endRound();
  }

  // ---- direct reads (process_vm_readv), one pass over the whole buffer ----

  void beginDirect() {
    publish();
    target = epoch;
    phase = Phase::WaitPosted;
  }

  // Copies `bytes` at `remote` in `rank`'s memory to `local`; on failure ends the operation.
  bool readPeer(int rank, void* local, std::uint64_t remote, std::size_t bytes) {
    if (bytes == 0) return true;
    const Status status =
        transport::shm::crossMemoryRead(ranks[static_cast<std::size_t>(rank)].pid, local, remote, bytes);
    // Checked after the copy: a peer that failed meanwhile may have reused the buffer.
    if (header(rank)->closed.load(std::memory_order_acquire) != 0) {
      finish(Status::make(ErrorCode::Remote,
                          "rank {} (pid {}, shared memory) closed its connection while its buffer "
                          "was being read",
                          rank, ranks[static_cast<std::size_t>(rank)].pid)
                 .withLostPeer(rank));
      return false;
    }
    if (!status.isOk()) {
      const auto pid = ranks[static_cast<std::size_t>(rank)].pid;
      if (status.code() == ErrorCode::Remote) {
        finish(Status::make(ErrorCode::Remote,
                            "rank {} (pid {}, shared memory) closed its connection: the process "
                            "exited while its buffer was being read",
                            rank, pid)
                   .withLostPeer(rank, true));
      } else {
        finish(Status::make(ErrorCode::Remote, "reading rank {}'s buffer: {}", rank, status.message()));
      }
      return false;
    }
    return true;
  }

  // Every block others give us straight from its owner's buffer into ours: one copy per block.
  bool afterPosted() {
    const std::size_t block = total * element;
    for (int from = 0; from < size(); ++from) {
      const auto move = moveOf(op.kind, from, me(), op.root);
      if (!move) continue;
      std::byte* into = output() + move->target * block;
      if (from == me()) {
        const std::byte* own = input() + move->source * block;
        if (into != own) std::memcpy(into, own, block);
      } else if (!readPeer(from, into, fingerprint(from).input + move->source * block, block)) {
        return false;
      }
    }
    // Peers may still be reading our input: wait until all have before returning it.
    publish();
    target = epoch;
    phase = Phase::WaitDone;
    return true;
  }

  void endRound() {
    done += chunk;
    phase = Phase::Begin;
  }

  std::size_t advance() {
    std::size_t steps = 0;
    while (running) {
      if (phase == Phase::Begin) {
        if (done == total) {
          finish(Status::ok());
          return steps + 1;
        }
        beginRound();
      } else {
        const int behind = firstBehind();
        if (behind >= 0) {
          if (!ranks[static_cast<std::size_t>(behind)].gone.empty()) failGone(behind);
          return steps;
        }
        switch (phase) {
          case Phase::WaitInputs:
            // The first round's synchronisation is the first moment peers' calls are known.
            if (done == 0 && !checkFingerprints()) return steps + 1;
            afterInputs();
            break;
          case Phase::WaitResults:
            afterResults();
            break;
          case Phase::WaitPosted:
            if (!checkFingerprints()) return steps + 1;
            if (!afterPosted()) return steps + 1;
            break;
          case Phase::WaitDone:
            finish(Status::ok());
            return steps + 1;
          case Phase::Begin:
            break;
        }
      }
      ++steps;
    }
    return steps;
  }

  void failGone(int rank) {
    const Peer& peer = ranks[static_cast<std::size_t>(rank)];
    finish(Status::make(ErrorCode::Remote, "rank {} (pid {}, shared memory) {}", rank, peer.pid, peer.gone)
               .withLostPeer(rank, peer.exited));
  }

  // A peer left: fail the running operation if it still needs that peer.
  void peerGone(int rank, const char* why, bool exited = false) {
    Peer& peer = ranks[static_cast<std::size_t>(rank)];
    if (peer.gone.empty()) peer.gone = why;
    peer.exited = peer.exited || exited;
    if (running) advance();
  }

  void lookForClosedPeers() {
    for (auto& peer : ranks) {
      if (peer.rank != me() && peer.gone.empty() && header(peer.rank)->closed.load(std::memory_order_acquire) != 0) {
        peerGone(peer.rank, "closed its connection (shut its communicator down)");
      }
    }
  }

  void announceClosed() {
    if (!mine.valid() || header(me())->closed.exchange(1, std::memory_order_seq_cst) != 0) return;
    for (auto& peer : ranks) {
      if (peer.rank != me() && peer.rank >= 0) doorbell->ring(peer.doorbell);
    }
  }

  void setUp(Store& store);
};

void ShmCollectives::Impl::setUp(Store& store) {
  const auto nameOf = [&](int rank) { return transport::shm::segmentName(params.name, rank, "-arena"); };
  ranks.resize(static_cast<std::size_t>(size()));
  // The halves get their pages as calls first need them (populateHalves): a group that only
  // ever reduces a few bytes costs its host a few pages per rank, not 2 MiB.
  mine = Segment::create(nameOf(me()), kArenaBytes, transport::shm::Residency::OnFirstUse);
  ranks[static_cast<std::size_t>(me())].rank = me();
  ranks[static_cast<std::size_t>(me())].base = mine.data();
  ArenaHeader* own = header(me());
  own->pid = ::getpid();
  own->probe = reinterpret_cast<std::uint64_t>(own) ^ 0x9e3779b97f4a7c15ULL;
  own->probeAddress = reinterpret_cast<std::uint64_t>(&own->probe);
  own->readsEveryPeer = params.crossMemoryBytes != 0 ? 1 : 0;
  transport::shm::allowCrossMemoryReaders();
  doorbell = std::make_unique<Doorbell>(io, nameOf(me()).substr(1), [this] { lookForClosedPeers(); });

  std::vector<int> all(static_cast<std::size_t>(size()));
  for (int rank = 0; rank < size(); ++rank) all[static_cast<std::size_t>(rank)] = rank;
  auto segments = transport::shm::exchangeSegments(
      store, mine,
      {params.storePrefix + "arena/", all, me(), nameOf, kArenaBytes, params.timeout,
       transport::shm::Residency::OnFirstUse},
      [&](std::size_t rank, const Segment& segment) {
        Peer& peer = ranks[rank];
        peer.rank = static_cast<int>(rank);
        peer.base = segment.data();
        peer.pid = static_cast<pid_t>(header(peer.rank)->pid);
        peer.doorbell = nameOf(peer.rank).substr(1);
        const ArenaHeader* theirs = header(peer.rank);
        // Written before the exchange's second barrier, so every peer sees the final value.
        if (!transport::shm::crossMemoryProbe(peer.pid, theirs->probeAddress, theirs->probe)) own->readsEveryPeer = 0;
        const auto gone = [this, rank = peer.rank] {
          peerGone(rank, "closed its connection: the process exited", true);
        };
        peer.exitWatch = params.liveness ? params.liveness->onExit(io, peer.rank, gone)
                                         : transport::watchProcessExit(io, peer.pid, gone);
      });
  for (int rank = 0; rank < size(); ++rank) {
    if (rank != me())
      ranks[static_cast<std::size_t>(rank)].segment = std::move(segments[static_cast<std::size_t>(rank)]);
  }
  readEveryone = true;
  for (int rank = 0; rank < size(); ++rank) readEveryone = readEveryone && header(rank)->readsEveryPeer != 0;
  // The host's processor count, not this rank's affinity mask: every rank must decide alike.
  coreEach = static_cast<long>(size()) <= ::sysconf(_SC_NPROCESSORS_ONLN);
}

ShmCollectives::ShmCollectives(const asio::any_io_executor& io, std::shared_ptr<Store> store,
                               const ShmCollectivesParams& params)
    : impl_(std::make_unique<Impl>(io, params)) {
  impl_->setUp(*store);
}

ShmCollectives::~ShmCollectives() { impl_->announceClosed(); }

bool ShmCollectives::handles(Collective kind, std::size_t bytes) const {
  if (kind == Collective::Allreduce || kind == Collective::ReduceScatter) return true;
  if (!movesOnly(kind)) return false;
  // Every synchronisation waits for every rank: with more ranks than cores each one waits for
  // ranks to be scheduled in turn, while a schedule's transfers need only their two ranks. 4 ranks
  // on 2 cores, 64 KiB: gather, scatter, broadcast and alltoall took 1.4-10x the schedules' time
  // (bench/RESULTS.md, issue 20). Allgather measured otherwise, so it keeps the engine.
  if (kind != Collective::Allgather && !impl_->coreEach) return false;
  // Large blocks read straight from their owners; where that is not allowed, the transport
  // (through its rings' slots, or process_vm_readv where only some pairs allow it) does better
  // than the arena's extra copy.
  return impl_->readEveryone || impl_->params.crossMemoryBytes == 0 || bytes < impl_->params.crossMemoryBytes;
}

void ShmCollectives::start(ShmOperation operation) {
  Impl& impl = *impl_;
  impl.op = std::move(operation);
  impl.running = true;
  impl.element = dataTypeSize(impl.op.type);
  impl.kernel = reduce::kernelFor(impl.op.type, impl.op.op);
  impl.total = impl.op.count;
  impl.done = 0;
  impl.phase = Phase::Begin;
  const std::size_t bytes = impl.total * impl.element;
  impl.slots = impl.op.kind == Collective::ReduceScatter ? static_cast<std::size_t>(impl.size())
               : movesOnly(impl.op.kind)                 ? slotsOf(impl.op.kind, impl.size())
                                                         : 1;
  impl.small = impl.op.kind == Collective::Allreduce && bytes <= kSmallBytes;
  // Every rank decides alike: the same call, sizes and readEveryone on every rank.
  impl.direct = impl.readEveryone && impl.size() > 1 && movesOnly(impl.op.kind) &&
                bytes >= directBytes(impl.op.kind, impl.size());
  if (Status populated = impl.populateHalves(impl.direct ? 0 : bytes * impl.slots); !populated.isOk()) {
    impl.finish(populated);
    return;
  }
  impl.posted = static_cast<int>(impl.operations++ & 1);
  impl.header(impl.me())->posted[impl.posted] = Fingerprint{impl.op.sequence,
                                                            impl.op.count,
                                                            static_cast<std::uint32_t>(impl.op.kind),
                                                            static_cast<std::uint32_t>(impl.op.type),
                                                            static_cast<std::uint32_t>(impl.op.op),
                                                            1,
                                                            reinterpret_cast<std::uint64_t>(impl.op.input),
                                                            reinterpret_cast<std::uint64_t>(impl.op.output),
                                                            static_cast<std::uint32_t>(impl.op.root)};
  if (impl.params.checkCalls) impl.ourSummary = callSummary(impl.header(impl.me())->posted[impl.posted]);
  if (impl.direct && impl.total != 0) impl.beginDirect();
  impl.advance();
}

bool ShmCollectives::busy() const { return impl_->running; }

std::size_t ShmCollectives::poll() { return impl_->running ? impl_->advance() : 0; }

bool ShmCollectives::prepareToSleep() {
  Impl& impl = *impl_;
  if (!impl.running) return true;
  transport::shm::announceSleep(impl.header(impl.me())->sleeping);
  if (impl.phase == Phase::Begin || impl.firstBehind() < 0) {
    awake();
    return false;
  }
  return true;
}

void ShmCollectives::awake() { impl_->header(impl_->me())->sleeping.store(0, std::memory_order_relaxed); }

void ShmCollectives::fail(const Status& status) {
  if (impl_->running) impl_->finish(status);
}

std::string ShmCollectives::describePending() const {
  const Impl& impl = *impl_;
  if (!impl.running) return "nothing";
  const int behind = impl.firstBehind();
  if (behind < 0) return "local work";
  const auto& peer = impl.ranks[static_cast<std::size_t>(behind)];
  return fmt::format("synchronisation {} of {} from rank {} (pid {}, shared memory), which is at {}", impl.target,
                     apiName(impl.op.kind), behind, peer.pid,
                     impl.header(behind)->epoch.load(std::memory_order_relaxed));
}

}  // namespace banyan::intrahost
