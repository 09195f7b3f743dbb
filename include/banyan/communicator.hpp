#pragma once
// A group of ranks that run collectives together.
//
// Buffers are raw pointers plus an element count; `count` is per rank for allgather, gather
// and scatter (the root's or every rank's large buffer holds size() * count elements), per
// received block for reduceScatter and per peer for alltoall. Rooted collectives take the
// root's rank, which must be the same on every rank. Blocking calls wait for completion; the
// *Async calls return at once with a Work, and the buffers must stay untouched until it ends.
// Operations on one communicator run in the order they were issued, which must be the same
// on every rank.

#include <banyan/compression.hpp>
#include <banyan/options.hpp>
#include <banyan/store.hpp>
#include <banyan/types.hpp>
#include <banyan/work.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace banyan {

namespace detail {
class CommunicatorImpl;
}

// What Communicator::agree() returns, the same on every surviving rank.
struct Agreement {
  std::uint64_t flag = 0;        // the bitwise AND of the flags the survivors passed
  std::vector<int> failedRanks;  // the ranks agreed to be gone (lost, or closed), ascending
};

class Communicator {
 public:
  // Joins the group of `size` ranks that rendezvous through `store`, as rank `rank`.
  // Every rank must pass a store reaching the same server. Connections form lazily.
  static Communicator create(std::shared_ptr<Store> store, int rank, int size, const Options& options = {});
  // As create(), for a store that serves this one communicator alone, such as the per-group
  // store PyTorch hands a process group. create() numbers the communicators of a process to
  // keep their keys apart in a shared store, so its ranks must have made the same
  // communicators before; here they need not (a rank outside some torch subgroup makes fewer).
  static Communicator createWithOwnStore(std::shared_ptr<Store> store, int rank, int size, const Options& options = {});
  // As createWithOwnStore(), run on `family`'s event loop and progress thread instead of new
  // ones, as the communicators split() makes are: what a torch subgroup is made with. Only
  // threads are shared (docs/architecture.md, "Groups over their parent's connections"); either
  // may close first. `family` must be open on this rank (InvalidUsage otherwise).
  static Communicator createWithOwnStore(std::shared_ptr<Store> store, int rank, int size, const Options& options,
                                         const Communicator& family);
  // Joins the job this process was started in, read from the environment: BANYAN_RANK,
  // BANYAN_SIZE and BANYAN_STORE_ADDR (host:port) as set by banyan's launcher, or the torchrun
  // convention RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (rank 0 serves the store).
  // Under mpirun, link banyan-mpi and use banyan::mpi::createCommunicator instead.
  static Communicator fromEnvironment(const Options& options = {});

  Communicator(Communicator&&) noexcept;
  Communicator& operator=(Communicator&&) noexcept;
  ~Communicator();  // close()

  int rank() const;
  int size() const;

  // Splits this communicator, like MPI_Comm_split: the ranks that pass the same color form a
  // new communicator, ranked by key (ties by rank here). A negative color joins none and gets
  // std::nullopt. Collective: every rank of this communicator calls it, in the same order
  // relative to its other calls. The new communicator has its own connections (shared memory
  // inside a host, TCP between hosts) and never mixes messages with this one; it uses this
  // one's store and options.
  std::optional<Communicator> split(int color, int key);
  // The communicator of the listed ranks of this one, ranked in list order; std::nullopt on
  // ranks not listed. Collective: every rank calls it with the same list (no duplicates).
  std::optional<Communicator> subset(std::span<const int> ranks);

  // recv[i] = op over ranks of send[i], for i < count. send may equal recv (in place).
  // `op` is a ReduceOp or Reduction::premulSum(factor) (see types.hpp), here and in
  // reduceScatter and reduce.
  void allreduce(const void* send, void* recv, std::size_t count, DataType type, Reduction op);
  void allreduce(void* buffer, std::size_t count, DataType type, Reduction op);
  Work allreduceAsync(const void* send, void* recv, std::size_t count, DataType type, Reduction op);
  // Compressed allreduce (compression.hpp; docs/numerics.md, "Compressed allreduce"): the f32 sum
  // sent as compression.format, each rank's encoding residual fed back through
  // compression.residual. type must be f32 and op sum; anything else is InvalidUsage. Every
  // rank must pass the same format. CompressionFormat::none is the plain allreduce.
  void allreduce(const void* send, void* recv, std::size_t count, DataType type, Reduction op,
                 const Compression& compression);
  void allreduce(void* buffer, std::size_t count, DataType type, Reduction op, const Compression& compression);
  Work allreduceAsync(const void* send, void* recv, std::size_t count, DataType type, Reduction op,
                      const Compression& compression);

  // recv[r * count + i] = send of rank r [i]. In place: send == recv + rank() * count * elemsize,
  // or the one-buffer overload, where this rank's block is already in place.
  void allgather(const void* send, void* recv, std::size_t count, DataType type);
  void allgather(void* buffer, std::size_t count, DataType type);
  Work allgatherAsync(const void* send, void* recv, std::size_t count, DataType type);

  // recv[i] = op over ranks of send[rank() * recvCount + i], for i < recvCount: send holds
  // size() * recvCount elements, block r reduced onto rank r. In place: recv == send + rank() *
  // recvCount * elemsize, or the one-buffer overload, where the result replaces this rank's own
  // block of `buffer` (the other blocks keep their input).
  void reduceScatter(const void* send, void* recv, std::size_t recvCount, DataType type, Reduction op);
  void reduceScatter(void* buffer, std::size_t recvCount, DataType type, Reduction op);
  Work reduceScatterAsync(const void* send, void* recv, std::size_t recvCount, DataType type, Reduction op);

  // Copies the root's `count` elements of `buffer` into `buffer` on every other rank.
  void broadcast(void* buffer, std::size_t count, DataType type, int root);
  Work broadcastAsync(void* buffer, std::size_t count, DataType type, int root);

  // On the root, recv[i] = op over ranks of send[i]. Off the root recv is not used (may be
  // null) and send is left as it was. In place: send == recv on the root, or the one-buffer
  // overload.
  void reduce(const void* send, void* recv, std::size_t count, DataType type, Reduction op, int root);
  void reduce(void* buffer, std::size_t count, DataType type, Reduction op, int root);
  Work reduceAsync(const void* send, void* recv, std::size_t count, DataType type, Reduction op, int root);

  // gather: on the root, recv[r * count + i] = send of rank r [i]; recv holds size() * count
  // and is not used off the root (may be null). In place: on the root, send == recv + root *
  // count * elemsize.
  // scatter: recv[i] = the root's send[rank() * count + i]; send holds size() * count on the
  // root and is not used elsewhere (may be null). In place: on the root, recv == send + root *
  // count * elemsize.
  void gather(const void* send, void* recv, std::size_t count, DataType type, int root);
  Work gatherAsync(const void* send, void* recv, std::size_t count, DataType type, int root);
  void scatter(const void* send, void* recv, std::size_t count, DataType type, int root);
  Work scatterAsync(const void* send, void* recv, std::size_t count, DataType type, int root);

  // recv[p * countPerPeer + i] = send of rank p [rank() * countPerPeer + i]: both buffers hold
  // size() * countPerPeer elements. Out of place only: overlapping buffers are an InvalidUsage
  // error (copy the input aside first).
  void alltoall(const void* send, void* recv, std::size_t countPerPeer, DataType type);
  Work alltoallAsync(const void* send, void* recv, std::size_t countPerPeer, DataType type);

  // Alltoall with a block size per peer: sendCounts[p] elements from send + sendOffsets[p] go
  // to rank p, and recvCounts[p] elements from rank p land at recv + recvOffsets[p] (counts and
  // offsets in elements; each table has size() entries). Rank r's sendCounts[p] must equal rank
  // p's recvCounts[r]; a length that disagrees fails on the receiver. A zero count is no
  // message at all. Receive blocks must not overlap; recv outside them is left as it was.
  // Out of place only. The tables are copied: they need not outlive the call.
  void alltoallv(const void* send, std::span<const std::size_t> sendCounts, std::span<const std::size_t> sendOffsets,
                 void* recv, std::span<const std::size_t> recvCounts, std::span<const std::size_t> recvOffsets,
                 DataType type);
  Work alltoallvAsync(const void* send, std::span<const std::size_t> sendCounts,
                      std::span<const std::size_t> sendOffsets, void* recv, std::span<const std::size_t> recvCounts,
                      std::span<const std::size_t> recvOffsets, DataType type);

  // Point-to-point. send delivers `count` elements to rank `peer`, where a recv from this rank
  // (or from kAnySource) with the same tag takes them; tags are >= 0. Receives match messages by
  // (source, tag) in the order they were posted, and two messages from one source with one tag
  // are received in the order they were sent (as in MPI); otherwise sends and receives need not
  // be issued in any particular order, and they never wait for, or hold up, collectives. The
  // length must match the receive's exactly (InvalidUsage on the receiver otherwise). A send of
  // up to BANYAN_P2P_EAGER_BYTES completes once it has left; a larger one once its receive has
  // been posted and the data has moved. peer == rank() is allowed. recv returns the source.
  static constexpr int kAnySource = -1;
  void send(const void* data, std::size_t count, DataType type, int peer, int tag);
  Work sendAsync(const void* data, std::size_t count, DataType type, int peer, int tag);
  int recv(void* data, std::size_t count, DataType type, int peer, int tag);
  // Work::source() says where the message came from once the receive has ended.
  Work recvAsync(void* data, std::size_t count, DataType type, int peer, int tag);

  // Groups, as ncclGroupStart/End and PyTorch's coalescing: between groupStart() and
  // groupEnd(), the *Async calls this thread makes on this communicator are collected, not
  // started, and groupEnd() issues them together, in call order, as one batch: consecutive
  // small allreduces with the same type and op run as one fused allreduce (one round of
  // messages instead of one per call), and sends and receives are posted together, so no
  // member waits for another. Each call still returns its own Work; groupEnd() returns one that
  // ends when all of them have (with the first error). Every rank must make the same group
  // (fusion changes what goes on the wire). Blocking calls inside a group are an InvalidUsage
  // error (they would wait for themselves); other threads' calls are not part of the group.
  // Groups nest: only the outermost groupEnd() issues.
  void groupStart();
  Work groupEnd();

  // Returns (or the Work completes) once every rank has entered the barrier.
  void barrier();
  Work barrierAsync();

  // Typed conveniences: the element type gives the DataType (float, double, int8_t, uint8_t,
  // int16_t, int32_t, int64_t), the span its count. allgather's `recv` holds size() * send.size().
  template <typename T>
  void allreduce(std::span<T> buffer, ReduceOp op) {
    allreduce(buffer.data(), buffer.size(), DataTypeOf<std::remove_const_t<T>>::value, op);
  }
  template <typename T>
  void allreduce(std::span<const T> send, std::span<T> recv, ReduceOp op) {
    checkSpanSizes(send.size(), recv.size(), 1);
    allreduce(send.data(), recv.data(), send.size(), DataTypeOf<T>::value, op);
  }
  template <typename T>
  void allgather(std::span<const T> send, std::span<T> recv) {
    checkSpanSizes(send.size(), recv.size(), size());
    allgather(send.data(), recv.data(), send.size(), DataTypeOf<T>::value);
  }

  // Surviving a lost rank (docs/fault-tolerance.md). When a rank dies or stops responding, every
  // rank's pending and later operations on this communicator fail with a Remote error naming it
  // (heartbeats on a control channel find a stopped rank within BANYAN_HEARTBEAT_MS x
  // BANYAN_HEARTBEAT_MISSES). Then, as in MPI's ULFM:
  //
  // revoke(): every pending and later operation on this communicator, on every rank, ends with
  // Aborted. Not collective: any rank may call it, from any thread; it reaches the others over the
  // control channel. agree() and shrink() still work on a revoked communicator.
  void revoke();
  // Fault-tolerant agreement among the survivors: every rank that is alive calls it (in the same
  // order relative to its other agree() and shrink() calls); it returns the AND of their flags and
  // the ranks that are gone, the same on every survivor, whether or not rank 0 or the store is
  // alive. Throws Remote on a rank the others agreed had failed, Timeout by BANYAN_TIMEOUT.
  Agreement agree(std::uint64_t flag);
  // A new communicator of the survivors, ranked in their order here (rank r becomes the number of
  // survivors below it). Collective over the survivors, like agree(). Needs neither this
  // communicator's store nor rank 0: the lowest survivor serves the new communicator's store. The
  // new communicator has this one's options and connections of its own; this one stays broken.
  Communicator shrink();
  // The ranks this rank knows to be lost so far (not agreed: see agree()).
  std::vector<int> lostRanks() const;

  // Ends every pending operation with an Aborted error, closes connections and refuses new
  // work. Returns within the configured timeout even when peers are gone. Idempotent.
  void close();
  // close() for emergencies, as ncclCommAbort: callable from any thread, including while other
  // threads are blocked in calls on this communicator (they return at once with Aborted), but
  // not from a Work callback (it would wait for the thread it runs on).
  void abort();

 private:
  explicit Communicator(std::unique_ptr<detail::CommunicatorImpl> impl);
  // Throws InvalidUsage unless recvCount == sendCount * factor.
  void checkSpanSizes(std::size_t sendCount, std::size_t recvCount, int factor) const;
  std::unique_ptr<detail::CommunicatorImpl> impl_;
};

}  // namespace banyan
