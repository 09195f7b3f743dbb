#pragma once
// A group of ranks that run collectives together.
//
// Buffers are raw pointers plus an element count; `count` is per rank for allgather (the
// receive buffer holds size() * count elements). Blocking calls wait for completion; the
// *Async calls return at once with a Work, and the buffers must stay untouched until it ends.
// Operations on one communicator run in the order they were issued, which must be the same
// on every rank.

#include <banyan/options.hpp>
#include <banyan/store.hpp>
#include <banyan/types.hpp>
#include <banyan/work.hpp>

#include <cstddef>
#include <memory>

namespace banyan {

namespace detail {
class CommunicatorImpl;
}

class Communicator {
 public:
  // Joins the group of `size` ranks that rendezvous through `store`, as rank `rank`.
  // Every rank must pass a store reaching the same server. Connections form lazily.
  static Communicator create(std::shared_ptr<Store> store, int rank, int size,
                             const Options& options = {});
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

  // recv[i] = op over ranks of send[i], for i < count. send may equal recv (in place).
  void allreduce(const void* send, void* recv, std::size_t count, DataType type, ReduceOp op);
  void allreduce(void* buffer, std::size_t count, DataType type, ReduceOp op);
  Work allreduceAsync(const void* send, void* recv, std::size_t count, DataType type, ReduceOp op);

  // recv[r * count + i] = send of rank r [i]. In place: send == recv + rank() * count * elemsize,
  // or the one-buffer overload, where this rank's block is already in place.
  void allgather(const void* send, void* recv, std::size_t count, DataType type);
  void allgather(void* buffer, std::size_t count, DataType type);
  Work allgatherAsync(const void* send, void* recv, std::size_t count, DataType type);

  // Ends every pending operation with an Aborted error, closes connections and refuses new
  // work. Returns within the configured timeout even when peers are gone. Idempotent.
  void close();

 private:
  explicit Communicator(std::unique_ptr<detail::CommunicatorImpl> impl);
  std::unique_ptr<detail::CommunicatorImpl> impl_;
};

}  // namespace banyan
