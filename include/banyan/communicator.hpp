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
#include <span>
#include <type_traits>

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

  // Typed conveniences: the element type gives the DataType (float, double, int8_t, uint8_t,
  // int32_t, int64_t), the span its count. allgather's `recv` holds size() * send.size().
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

  // Ends every pending operation with an Aborted error, closes connections and refuses new
  // work. Returns within the configured timeout even when peers are gone. Idempotent.
  void close();

 private:
  explicit Communicator(std::unique_ptr<detail::CommunicatorImpl> impl);
  // Throws InvalidUsage unless recvCount == sendCount * factor.
  void checkSpanSizes(std::size_t sendCount, std::size_t recvCount, int factor) const;
  std::unique_ptr<detail::CommunicatorImpl> impl_;
};

}  // namespace banyan
