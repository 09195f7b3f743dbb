/* banyan's C interface: plain C99 over libbanyan, for C programs and for bindings that cannot
 * use C++ (the Python package `banyan` reaches libbanyan through it with ctypes).
 *
 * It mirrors banyan::Communicator (banyan/communicator.hpp, where each collective's buffer
 * layout is described); names are snake_case with a banyan_ prefix.
 *
 * Error model. Every function that can fail returns a banyan_status: BANYAN_OK (0) or one of
 * the codes below, which mirror banyan::ErrorCode one to one. Results come back through
 * out-parameters, which are written only on success (banyan_work_wait_for's *done excepted:
 * it says whether the operation ended, also when it ended with an error). The text of a failure (what went wrong,
 * where, and which C function was called) is kept per thread: banyan_last_error() returns the
 * message of the most recent call on the calling thread that failed. It is thread-local, not
 * per handle, so that two threads using one communicator never read each other's messages; a
 * successful call leaves it as it was. No C++ exception ever leaves these functions: a banyan
 * error becomes its code, running out of memory becomes BANYAN_ERR_SYSTEM, anything else
 * BANYAN_ERR_INTERNAL. Bad arguments (a NULL handle or out-pointer, a NULL buffer with a count
 * above zero, a dtype or op outside the enums) are BANYAN_ERR_INVALID_USAGE with a message
 * naming the function and the argument; they never crash.
 *
 * Ownership. A banyan_comm is created by banyan_comm_from_env() or banyan_comm_split() (or
 * _shrink()) and owned by the caller until banyan_comm_destroy(), which closes it (pending
 * operations end with BANYAN_ERR_ABORTED) and frees it. A banyan_work, returned by each *_async
 * call, is owned by the caller until banyan_work_free(). A work handle may outlive its
 * communicator (it then reports ABORTED if the operation had not ended); freeing a work handle
 * does not cancel its operation. The buffers of an operation belong to banyan until it has
 * ended: do not touch or free them before banyan_work_wait() (or _test()) says it has, and do
 * not free them while it may still run. Strings returned by this interface are owned by
 * libbanyan and must not be freed.
 *
 * Threads. As in C++: a communicator may be used from several threads, but every rank must
 * issue the same operations on it in the same order.
 */
#ifndef BANYAN_BANYAN_H
#define BANYAN_BANYAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; banyan_version() gives the library's, so a program can tell when
 * it runs against a libbanyan other than the one it was compiled for. (libbanyan's build fails
 * if BANYAN_VERSION differs from meson.build's project version.) */
#define BANYAN_VERSION_MAJOR 0
#define BANYAN_VERSION_MINOR 1
#define BANYAN_VERSION_PATCH 0
#define BANYAN_VERSION "0.1.0"

/* Opaque handles: their layout is libbanyan's own, so it may change without breaking callers. */
typedef struct banyan_comm banyan_comm;
typedef struct banyan_work banyan_work;

/* banyan::ErrorCode, shifted by one so that 0 means success. */
typedef enum banyan_status {
  BANYAN_OK = 0,
  BANYAN_ERR_INVALID_USAGE = 1,  /* the caller passed something wrong */
  BANYAN_ERR_SYSTEM = 2,         /* the operating system refused (or out of memory) */
  BANYAN_ERR_REMOTE = 3,         /* a peer failed, closed its connection or sent nonsense */
  BANYAN_ERR_TIMEOUT = 4,        /* a deadline passed (BANYAN_TIMEOUT or an explicit one) */
  BANYAN_ERR_ABORTED = 5,        /* ended by abort/close/destroy or an earlier failure */
  BANYAN_ERR_NOT_SUPPORTED = 6,  /* valid request this build or transport cannot do */
  BANYAN_ERR_INTERNAL = 7,       /* a banyan bug: please report it */
  BANYAN_ERR_UNAUTHENTICATED = 8 /* a peer or store could not prove it belongs to the job */
} banyan_status;

/* Element types; the numbering is banyan::DataType's (and the wire format's). */
typedef enum banyan_dtype {
  BANYAN_F32 = 0,
  BANYAN_F64 = 1,
  BANYAN_F16 = 2,
  BANYAN_BF16 = 3,
  BANYAN_I8 = 4,
  BANYAN_U8 = 5,
  BANYAN_I32 = 6,
  BANYAN_I64 = 7,
  BANYAN_I16 = 8
} banyan_dtype;

/* Reduction operators (banyan::ReduceOp); band/bor/bxor take integer types only. */
typedef enum banyan_op {
  BANYAN_SUM = 0,
  BANYAN_PROD = 1,
  BANYAN_MIN = 2,
  BANYAN_MAX = 3,
  BANYAN_AVG = 4,
  BANYAN_BAND = 5,
  BANYAN_BOR = 6,
  BANYAN_BXOR = 7
} banyan_op;

/* banyan_recv's peer to take a message from any rank. */
#define BANYAN_ANY_SOURCE (-1)

/* Library version, "major.minor.patch". Never fails. */
const char* banyan_version(void);
/* The message of the calling thread's most recent failed call; "" if none has failed. Valid
 * until the next call on this thread that fails. Never fails. */
const char* banyan_last_error(void);
/* "OK", "InvalidUsage", "Timeout", ...; "Unknown" outside the enum. Never fails. */
const char* banyan_status_name(banyan_status status);
/* Bytes per element of `dtype`; 0 outside the enum. Never fails. */
size_t banyan_dtype_size(banyan_dtype dtype);

/* Communicators. */

/* Joins the job this process was started in (BANYAN_RANK/BANYAN_SIZE/BANYAN_STORE_ADDR as set by
 * banyan's launcher, or torchrun's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT). */
banyan_status banyan_comm_from_env(banyan_comm** out);
/* Closes (if not closed yet) and frees. The handle is freed even if closing reports an error
 * (the caller could not retry). NULL is allowed and does nothing. */
banyan_status banyan_comm_destroy(banyan_comm* comm);
/* Ends every pending operation with ABORTED and refuses new work; the handle stays valid until
 * banyan_comm_destroy(). Idempotent. */
banyan_status banyan_comm_close(banyan_comm* comm);
/* As close, but callable from another thread while calls are blocked on `comm`. */
banyan_status banyan_comm_abort(banyan_comm* comm);
banyan_status banyan_comm_rank(const banyan_comm* comm, int* rank);
banyan_status banyan_comm_size(const banyan_comm* comm, int* size);
/* MPI_Comm_split: ranks passing one color form a communicator ranked by key. A negative color
 * joins none: *out is set to NULL and BANYAN_OK returned. Collective over `comm`. */
banyan_status banyan_comm_split(banyan_comm* comm, int color, int key, banyan_comm** out);
/* The communicator of the listed ranks (nranks entries, no duplicates), ranked in list order;
 * *out is NULL on ranks not listed. Collective: every rank passes the same list. */
banyan_status banyan_comm_subset(banyan_comm* comm, const int* ranks, int nranks, banyan_comm** out);
/* Fault tolerance (docs/fault-tolerance.md). revoke is not collective. agree is collective over
 * the survivors: *out_flag gets the AND of their flags, failed_ranks (room for `capacity`
 * entries; may be NULL when capacity is 0) the ranks agreed to be gone, ascending, and
 * *failed_count how many there are (which may exceed capacity: then only the first `capacity`
 * are written). shrink is collective over the survivors and makes a communicator of them.
 * lost_ranks is agree's list without the agreement (what this rank knows so far). */
banyan_status banyan_comm_revoke(banyan_comm* comm);
banyan_status banyan_comm_agree(banyan_comm* comm, uint64_t flag, uint64_t* out_flag, int* failed_ranks, int capacity,
                                int* failed_count);
banyan_status banyan_comm_shrink(banyan_comm* comm, banyan_comm** out);
banyan_status banyan_comm_lost_ranks(const banyan_comm* comm, int* lost_ranks, int capacity, int* lost_count);

/* Collectives. Counts are in elements, with the meaning of communicator.hpp: per rank for
 * allgather/gather/scatter, per received block for reduce_scatter, per peer for alltoall.
 * In place: pass send == recv (allreduce, reduce on the root) or the in-place layouts of
 * communicator.hpp. Each blocking call has an _async twin that returns a work handle in *work. */
banyan_status banyan_allreduce(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                               banyan_op op);
banyan_status banyan_allreduce_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                     banyan_op op, banyan_work** work);
banyan_status banyan_broadcast(banyan_comm* comm, void* buffer, size_t count, banyan_dtype dtype, int root);
banyan_status banyan_broadcast_async(banyan_comm* comm, void* buffer, size_t count, banyan_dtype dtype, int root,
                                     banyan_work** work);
/* recv is used on the root only (may be NULL elsewhere). */
banyan_status banyan_reduce(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                            banyan_op op, int root);
banyan_status banyan_reduce_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                  banyan_op op, int root, banyan_work** work);
/* recv holds size * count elements. */
banyan_status banyan_allgather(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype);
banyan_status banyan_allgather_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                     banyan_work** work);
/* send holds size * recv_count elements; block r is reduced onto rank r. */
banyan_status banyan_reduce_scatter(banyan_comm* comm, const void* send, void* recv, size_t recv_count,
                                    banyan_dtype dtype, banyan_op op);
banyan_status banyan_reduce_scatter_async(banyan_comm* comm, const void* send, void* recv, size_t recv_count,
                                          banyan_dtype dtype, banyan_op op, banyan_work** work);
/* Both buffers hold size * count_per_peer elements; out of place only. */
banyan_status banyan_alltoall(banyan_comm* comm, const void* send, void* recv, size_t count_per_peer,
                              banyan_dtype dtype);
banyan_status banyan_alltoall_async(banyan_comm* comm, const void* send, void* recv, size_t count_per_peer,
                                    banyan_dtype dtype, banyan_work** work);
/* Each table has size entries, in elements; the tables are copied during the call. */
banyan_status banyan_alltoallv(banyan_comm* comm, const void* send, const size_t* send_counts,
                               const size_t* send_offsets, void* recv, const size_t* recv_counts,
                               const size_t* recv_offsets, banyan_dtype dtype);
banyan_status banyan_alltoallv_async(banyan_comm* comm, const void* send, const size_t* send_counts,
                                     const size_t* send_offsets, void* recv, const size_t* recv_counts,
                                     const size_t* recv_offsets, banyan_dtype dtype, banyan_work** work);
/* gather: recv (size * count, root only) gets every rank's send. scatter: send (size * count,
 * root only) is cut into blocks, block r to rank r's recv. */
banyan_status banyan_gather(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                            int root);
banyan_status banyan_gather_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                  int root, banyan_work** work);
banyan_status banyan_scatter(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                             int root);
banyan_status banyan_scatter_async(banyan_comm* comm, const void* send, void* recv, size_t count, banyan_dtype dtype,
                                   int root, banyan_work** work);
banyan_status banyan_barrier(banyan_comm* comm);
banyan_status banyan_barrier_async(banyan_comm* comm, banyan_work** work);

/* Point-to-point (tags >= 0). The length must equal the matching receive's. banyan_recv writes
 * the rank the message came from to *source unless source is NULL. */
banyan_status banyan_send(banyan_comm* comm, const void* data, size_t count, banyan_dtype dtype, int peer, int tag);
banyan_status banyan_send_async(banyan_comm* comm, const void* data, size_t count, banyan_dtype dtype, int peer,
                                int tag, banyan_work** work);
banyan_status banyan_recv(banyan_comm* comm, void* data, size_t count, banyan_dtype dtype, int peer, int tag,
                          int* source);
banyan_status banyan_recv_async(banyan_comm* comm, void* data, size_t count, banyan_dtype dtype, int peer, int tag,
                                banyan_work** work);

/* Groups (ncclGroupStart/End): the _async calls between them are issued together by group_end,
 * whose work ends when all of them have. */
banyan_status banyan_group_start(banyan_comm* comm);
banyan_status banyan_group_end(banyan_comm* comm, banyan_work** work);

/* Work handles. */

/* Blocks until the operation ends (never past its deadline); returns the error it ended with. */
banyan_status banyan_work_wait(banyan_work* work);
/* As wait, giving up after timeout_ms: then *done is 0 and BANYAN_OK is returned (the operation
 * keeps going). On an ended operation *done is 1 and its own status is returned. */
banyan_status banyan_work_wait_for(banyan_work* work, long timeout_ms, int* done);
/* Never blocks: *done is 1 once the operation has ended (successfully or not). */
banyan_status banyan_work_test(banyan_work* work, int* done);
/* For an ended receive, the rank its message came from; -1 for anything else. */
banyan_status banyan_work_source(banyan_work* work, int* source);
/* Frees the handle (not the operation). NULL is allowed. Never fails. */
void banyan_work_free(banyan_work* work);

/* Launching. Runs `nranks` copies of argv[0] (PATH searched; argv ends with NULL) as the ranks
 * of one job on this machine, serving its store on 127.0.0.1 while they run, as banyan's
 * multi-process tests do; each rank finds the job with banyan_comm_from_env(). Waits for all of
 * them, at most timeout_ms (then the rest are killed, BANYAN_ERR_TIMEOUT). exit_codes (nranks
 * entries, or NULL) receives each rank's exit status, 128 + the signal for a killed rank. Call
 * from a process with no other threads running (it forks). */
banyan_status banyan_launch_local(int nranks, const char* const* argv, long timeout_ms, int* exit_codes);

#ifdef __cplusplus
}
#endif

#endif /* BANYAN_BANYAN_H */
