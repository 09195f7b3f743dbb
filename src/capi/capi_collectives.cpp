// The C collectives (banyan.h, "Collectives"): each converts its C arguments, checking the
// handle, the out-pointer and the enums, and calls the same Communicator method as C++ does.
// Buffers are checked by the C++ API itself (src/runtime/call_checks.cpp), which knows which
// buffers a rank needs (a non-root's receive buffer of reduce may be NULL); its message names
// the buffer and guarded() adds the C function.

#include "capi/capi_call.hpp"

#include <span>

using banyan::capi::communicatorOf;
using banyan::capi::dataTypeOf;
using banyan::capi::guarded;
using banyan::capi::reduceOpOf;
using banyan::capi::requireArgument;
using banyan::capi::startWork;

namespace {

// Runs `call(communicator)` for a blocking entry point.
template <typename Call>
banyan_status blocking(const char* function, banyan_comm* comm, Call&& call) {
  return guarded(function, [&] { call(communicatorOf(comm, function)); });
}

// Runs `start(communicator)`, which returns a Work, for an _async entry point; *work is written
// only once the operation has been accepted.
template <typename Start>
banyan_status async(const char* function, banyan_comm* comm, banyan_work** work, Start&& start) {
  return guarded(function, [&] {
    banyan::Communicator& c = communicatorOf(comm, function);
    requireArgument(work, function, "work");
    startWork(work, [&] { return start(c); });
  });
}

// An alltoallv table of `size` entries; NULL only when there are none.
std::span<const std::size_t> table(const size_t* entries, int size, const char* function, const char* argument) {
  if (size > 0) requireArgument(entries, function, argument);
  return {entries, static_cast<std::size_t>(size)};
}

}  // namespace

extern "C" {

banyan_status banyan_allreduce(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                               banyan_op op) {
  constexpr const char* f = "banyan_allreduce";
  return blocking(f, comm, [&](banyan::Communicator& c) {
    c.allreduce(send, recv, count, dataTypeOf(dtype, f), reduceOpOf(op, f));
  });
}

banyan_status banyan_allreduce_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                     banyan_op op, banyan_work** work) {
  constexpr const char* f = "banyan_allreduce_async";
  return async(f, comm, work, [&](banyan::Communicator& c) {
    return c.allreduceAsync(send, recv, count, dataTypeOf(dtype, f), reduceOpOf(op, f));
  });
}

banyan_status banyan_broadcast(banyan_comm* comm, void* buffer, size_t count, banyan_dtype dtype, int root) {
  constexpr const char* f = "banyan_broadcast";
  return blocking(f, comm, [&](banyan::Communicator& c) { c.broadcast(buffer, count, dataTypeOf(dtype, f), root); });
}

banyan_status banyan_broadcast_async(banyan_comm* comm, void* buffer, size_t count, banyan_dtype dtype, int root,
                                     banyan_work** work) {
  constexpr const char* f = "banyan_broadcast_async";
  return async(f, comm, work,
               [&](banyan::Communicator& c) { return c.broadcastAsync(buffer, count, dataTypeOf(dtype, f), root); });
}

banyan_status banyan_reduce(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                            banyan_op op, int root) {
  constexpr const char* f = "banyan_reduce";
  return blocking(f, comm, [&](banyan::Communicator& c) {
    c.reduce(send, recv, count, dataTypeOf(dtype, f), reduceOpOf(op, f), root);
  });
}

banyan_status banyan_reduce_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                  banyan_op op, int root, banyan_work** work) {
  constexpr const char* f = "banyan_reduce_async";
  return async(f, comm, work, [&](banyan::Communicator& c) {
    return c.reduceAsync(send, recv, count, dataTypeOf(dtype, f), reduceOpOf(op, f), root);
  });
}

banyan_status banyan_allgather(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype) {
  constexpr const char* f = "banyan_allgather";
  return blocking(f, comm, [&](banyan::Communicator& c) { c.allgather(send, recv, count, dataTypeOf(dtype, f)); });
}

banyan_status banyan_allgather_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                     banyan_work** work) {
  constexpr const char* f = "banyan_allgather_async";
  return async(f, comm, work,
               [&](banyan::Communicator& c) { return c.allgatherAsync(send, recv, count, dataTypeOf(dtype, f)); });
}

banyan_status banyan_reduce_scatter(banyan_comm* comm, const void* send, void* recv, size_t recv_count,
                                    banyan_dtype dtype, banyan_op op) {
  constexpr const char* f = "banyan_reduce_scatter";
  return blocking(f, comm, [&](banyan::Communicator& c) {
    c.reduceScatter(send, recv, recv_count, dataTypeOf(dtype, f), reduceOpOf(op, f));
  });
}

banyan_status banyan_reduce_scatter_async(banyan_comm* comm, const void* send, void* recv, size_t recv_count,
                                          banyan_dtype dtype, banyan_op op, banyan_work** work) {
  constexpr const char* f = "banyan_reduce_scatter_async";
  return async(f, comm, work, [&](banyan::Communicator& c) {
    return c.reduceScatterAsync(send, recv, recv_count, dataTypeOf(dtype, f), reduceOpOf(op, f));
  });
}

banyan_status banyan_alltoall(banyan_comm* comm, const void* send, void* recv, size_t count_per_peer,
                              banyan_dtype dtype) {
  constexpr const char* f = "banyan_alltoall";
  return blocking(f, comm,
                  [&](banyan::Communicator& c) { c.alltoall(send, recv, count_per_peer, dataTypeOf(dtype, f)); });
}

banyan_status banyan_alltoall_async(banyan_comm* comm, const void* send, void* recv, size_t count_per_peer,
                                    banyan_dtype dtype, banyan_work** work) {
  constexpr const char* f = "banyan_alltoall_async";
  return async(f, comm, work, [&](banyan::Communicator& c) {
    return c.alltoallAsync(send, recv, count_per_peer, dataTypeOf(dtype, f));
  });
}

banyan_status banyan_alltoallv(banyan_comm* comm, const void* send, const size_t* send_counts,
                               const size_t* send_offsets, void* recv, const size_t* recv_counts,
                               const size_t* recv_offsets, banyan_dtype dtype) {
  constexpr const char* f = "banyan_alltoallv";
  return blocking(f, comm, [&](banyan::Communicator& c) {
    const int n = c.size();
    c.alltoallv(send, table(send_counts, n, f, "send_counts"), table(send_offsets, n, f, "send_offsets"), recv,
                table(recv_counts, n, f, "recv_counts"), table(recv_offsets, n, f, "recv_offsets"),
                dataTypeOf(dtype, f));
  });
}

banyan_status banyan_alltoallv_async(banyan_comm* comm, const void* send, const size_t* send_counts,
                                     const size_t* send_offsets, void* recv, const size_t* recv_counts,
                                     const size_t* recv_offsets, banyan_dtype dtype, banyan_work** work) {
  constexpr const char* f = "banyan_alltoallv_async";
  return async(f, comm, work, [&](banyan::Communicator& c) {
    const int n = c.size();
    return c.alltoallvAsync(send, table(send_counts, n, f, "send_counts"), table(send_offsets, n, f, "send_offsets"),
                            recv, table(recv_counts, n, f, "recv_counts"), table(recv_offsets, n, f, "recv_offsets"),
                            dataTypeOf(dtype, f));
  });
}

banyan_status banyan_gather(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                            int root) {
  constexpr const char* f = "banyan_gather";
  return blocking(f, comm, [&](banyan::Communicator& c) { c.gather(send, recv, count, dataTypeOf(dtype, f), root); });
}

banyan_status banyan_gather_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                  int root, banyan_work** work) {
  constexpr const char* f = "banyan_gather_async";
  return async(f, comm, work,
               [&](banyan::Communicator& c) { return c.gatherAsync(send, recv, count, dataTypeOf(dtype, f), root); });
}

banyan_status banyan_scatter(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                             int root) {
  constexpr const char* f = "banyan_scatter";
  return blocking(f, comm, [&](banyan::Communicator& c) { c.scatter(send, recv, count, dataTypeOf(dtype, f), root); });
}

banyan_status banyan_scatter_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                   int root, banyan_work** work) {
  constexpr const char* f = "banyan_scatter_async";
  return async(f, comm, work,
               [&](banyan::Communicator& c) { return c.scatterAsync(send, recv, count, dataTypeOf(dtype, f), root); });
}

banyan_status banyan_barrier(banyan_comm* comm) {
  return blocking("banyan_barrier", comm, [&](banyan::Communicator& c) { c.barrier(); });
}

banyan_status banyan_barrier_async(banyan_comm* comm, banyan_work** work) {
  return async("banyan_barrier_async", comm, work, [&](banyan::Communicator& c) { return c.barrierAsync(); });
}

}  // extern "C"
