"""Communicator: a group of ranks running collectives on buffers (banyan_comm).

Collectives take numpy arrays or any buffer-protocol object. Where the C++ API has both, a
collective runs in place on `buf` when `out` is None and out of place into `out` otherwise; it
returns the array holding the result. Each has an `_async` twin returning a Work, whose wait()
returns the same. Sizes and element types are checked here, before libbanyan gets pointers, and
break as banyan.InvalidUsage.
"""

import ctypes

from ._buffers import Buffer, check_count, check_same_type
from ._library import check, lib
from .errors import InvalidUsage
from .work import SOURCE, Work

SUM, PROD, MIN, MAX, AVG, BAND, BOR, BXOR = range(8)
ANY_SOURCE = -1


class Communicator:
    def __init__(self, handle):
        self._handle = ctypes.c_void_p(handle)
        rank, size = ctypes.c_int(), ctypes.c_int()
        check(lib.banyan_comm_rank(self._handle, ctypes.byref(rank)))
        check(lib.banyan_comm_size(self._handle, ctypes.byref(size)))
        self.rank, self.size = rank.value, size.value

    @classmethod
    def from_environment(cls):
        """Joins the job this process was started in (python3 -m banyan.run, torchrun, ...)."""
        handle = ctypes.c_void_p()
        check(lib.banyan_comm_from_env(ctypes.byref(handle)))
        return cls(handle.value)

    def abort(self):
        """close() for emergencies: callable from another thread while calls are blocked here
        (they raise banyan.Aborted). The communicator still needs close() afterwards."""
        check(lib.banyan_comm_abort(self._comm("abort")))

    def close(self):
        """Ends pending operations (Aborted), closes connections and frees the communicator."""
        handle, self._handle = self._handle, None
        if handle:
            check(lib.banyan_comm_destroy(handle))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # Closes a communicator nobody closed; at interpreter exit the module's globals may be
        # gone already, and a destructor must not raise.
        try:
            self.close()
        except Exception:  # noqa: BLE001 (nothing to report to from a destructor)
            pass

    def _comm(self, what):
        if not self._handle:
            raise InvalidUsage(f"{what}: the communicator is closed")
        return self._handle

    def _run(self, what, asynchronous, function, args, buffers, result):
        """Calls banyan_<function>(comm, *args) or its _async twin."""
        comm = self._comm(what)
        if not asynchronous:
            check(getattr(lib, function)(comm, *args))
            return result
        handle = ctypes.c_void_p()
        check(getattr(lib, function + "_async")(comm, *args, ctypes.byref(handle)))
        return Work(handle.value, buffers, result)

    # In place when out is None (or the same memory), else out of place.
    def _in_out(self, what, buf, out):
        send = Buffer(buf, what + " buf", writable=out is None)
        if out is None:
            return send, send, buf
        recv = Buffer(out, what + " out", writable=True)
        check_same_type(what, send, recv)
        return send, recv, out

    def allreduce(self, buf, op=SUM, out=None, *, _async=False):
        send, recv, result = self._in_out("allreduce", buf, out)
        check_count("allreduce", recv, "out", send.count, "as many as buf")
        return self._run("allreduce", _async, "banyan_allreduce",
                         (send.address, recv.address, send.count, send.dtype, op), (send, recv), result)

    def broadcast(self, buf, root=0, *, _async=False):
        b = Buffer(buf, "broadcast buf", writable=True)
        return self._run("broadcast", _async, "banyan_broadcast", (b.address, b.count, b.dtype, root), (b,), buf)

    def reduce(self, buf, op=SUM, root=0, out=None, *, _async=False):
        """On the root the result goes to `out` (or `buf` in place); elsewhere `buf` is unchanged."""
        send = Buffer(buf, "reduce buf", writable=out is None and self.rank == root)
        recv, result = send, buf
        if out is not None and self.rank == root:
            recv, result = Buffer(out, "reduce out", writable=True), out
            check_same_type("reduce", send, recv)
            check_count("reduce", recv, "out", send.count, "as many as buf")
        return self._run("reduce", _async, "banyan_reduce",
                         (send.address, recv.address if self.rank == root else None, send.count, send.dtype, op, root),
                         (send, recv), result)

    def allgather(self, buf, out=None, *, _async=False):
        """out holds size * len(buf) elements: rank r's buf lands at block r. In place (out None):
        buf holds all size blocks, this rank's own already in place."""
        if out is None:
            whole = Buffer(buf, "allgather buf", writable=True)
            count = self._blocks("allgather", whole)
            own = whole.address + self.rank * count * whole.itemsize if count else None
            return self._run("allgather", _async, "banyan_allgather", (own, whole.address, count, whole.dtype),
                             (whole,), buf)
        send, recv = Buffer(buf, "allgather buf", writable=False), Buffer(out, "allgather out", writable=True)
        check_same_type("allgather", send, recv)
        check_count("allgather", recv, "out", send.count * self.size, "size x buf")
        return self._run("allgather", _async, "banyan_allgather", (send.address, recv.address, send.count, send.dtype),
                         (send, recv), out)

    def reduce_scatter(self, buf, out=None, op=SUM, *, _async=False):
        """buf holds size blocks of len(out); block r, reduced over ranks, lands in rank r's out.
        In place (out None): the result replaces this rank's own block of buf (the others keep
        their input)."""
        if out is None:
            whole = Buffer(buf, "reduce_scatter buf", writable=True)
            count = self._blocks("reduce_scatter", whole)
            own = whole.address + self.rank * count * whole.itemsize if count else None
            return self._run("reduce_scatter", _async, "banyan_reduce_scatter",
                             (whole.address, own, count, whole.dtype, op), (whole,), buf)
        send, recv = Buffer(buf, "reduce_scatter buf", writable=False), Buffer(out, "reduce_scatter out",
                                                                                writable=True)
        check_same_type("reduce_scatter", send, recv)
        check_count("reduce_scatter", send, "buf", recv.count * self.size, "size x out")
        return self._run("reduce_scatter", _async, "banyan_reduce_scatter",
                         (send.address, recv.address, recv.count, send.dtype, op), (send, recv), out)

    def _blocks(self, what, whole):
        """Elements per rank of a buffer of size blocks."""
        if whole.count % self.size:
            raise InvalidUsage(f"{what}: buf holds {whole.count} elements, not a multiple of the {self.size} ranks")
        return whole.count // self.size

    def alltoall(self, buf, out, *, _async=False):
        """Both hold size blocks; block p of buf goes to rank p, block p of out comes from it."""
        send, recv = Buffer(buf, "alltoall buf", writable=False), Buffer(out, "alltoall out", writable=True)
        check_same_type("alltoall", send, recv)
        check_count("alltoall", recv, "out", send.count, "as many as buf")
        return self._run("alltoall", _async, "banyan_alltoall",
                         (send.address, recv.address, self._blocks("alltoall", send), send.dtype), (send, recv), out)

    def gather(self, buf, out=None, root=0, *, _async=False):
        """On the root, out (size x len(buf)) gets every rank's buf; out is not used elsewhere."""
        send = Buffer(buf, "gather buf", writable=False)
        recv = None
        if self.rank == root:
            recv = Buffer(out, "gather out", writable=True)
            check_same_type("gather", send, recv)
            check_count("gather", recv, "out", send.count * self.size, "size x buf")
        return self._run("gather", _async, "banyan_gather",
                         (send.address, recv.address if recv else None, send.count, send.dtype, root), (send, recv),
                         out)

    def scatter(self, buf, out, root=0, *, _async=False):
        """Block r of the root's buf (size x len(out)) lands in rank r's out; buf is not used
        elsewhere (may be None)."""
        recv = Buffer(out, "scatter out", writable=True)
        send = None
        if self.rank == root:
            send = Buffer(buf, "scatter buf", writable=False)
            check_same_type("scatter", send, recv)
            check_count("scatter", send, "buf", recv.count * self.size, "size x out")
        return self._run("scatter", _async, "banyan_scatter",
                         (send.address if send else None, recv.address, recv.count, recv.dtype, root), (send, recv),
                         out)

    def barrier(self, *, _async=False):
        return self._run("barrier", _async, "banyan_barrier", (), (), None)

    def send(self, buf, peer, tag=0, *, _async=False):
        b = Buffer(buf, "send buf", writable=False)
        return self._run("send", _async, "banyan_send", (b.address, b.count, b.dtype, peer, tag), (b,), None)

    def recv(self, buf, peer=ANY_SOURCE, tag=0, *, _async=False):
        """Receives exactly len(buf) elements into buf; returns the source rank (Work.wait()
        returns it for recv_async)."""
        b = Buffer(buf, "recv buf", writable=True)
        if _async:
            return self._run("recv", True, "banyan_recv", (b.address, b.count, b.dtype, peer, tag), (b,), SOURCE)
        source = ctypes.c_int(-1)
        check(lib.banyan_recv(self._comm("recv"), b.address, b.count, b.dtype, peer, tag, ctypes.byref(source)))
        return source.value

    def split(self, color, key=None):
        """MPI_Comm_split: a Communicator of the ranks that passed this color, ordered by key
        (default: rank); None for a negative color. Collective."""
        handle = ctypes.c_void_p()
        check(lib.banyan_comm_split(self._comm("split"), color, self.rank if key is None else key,
                                    ctypes.byref(handle)))
        return Communicator(handle.value) if handle.value else None

    def subset(self, ranks):
        """The communicator of the listed ranks, ranked in list order; None on ranks not listed.
        Collective: every rank passes the same list."""
        listed = (ctypes.c_int * len(ranks))(*ranks)
        handle = ctypes.c_void_p()
        check(lib.banyan_comm_subset(self._comm("subset"), listed, len(ranks), ctypes.byref(handle)))
        return Communicator(handle.value) if handle.value else None

    # Surviving a lost rank (docs/fault-tolerance.md).
    def revoke(self):
        """Ends every pending and later operation, on every rank, with banyan.Aborted. Not collective."""
        check(lib.banyan_comm_revoke(self._comm("revoke")))

    def agree(self, flag):
        """Among the survivors: returns (AND of their flags, ranks agreed to be gone)."""
        out = ctypes.c_uint64()
        room = self.size
        failed = (ctypes.c_int * room)()
        count = ctypes.c_int()
        check(lib.banyan_comm_agree(self._comm("agree"), flag, ctypes.byref(out), failed, room, ctypes.byref(count)))
        return out.value, list(failed[:count.value])

    def shrink(self):
        """A new communicator of the survivors (collective over them); this one stays broken."""
        handle = ctypes.c_void_p()
        check(lib.banyan_comm_shrink(self._comm("shrink"), ctypes.byref(handle)))
        return Communicator(handle.value)

    def lost_ranks(self):
        """The ranks this rank knows to be lost so far (not agreed: see agree())."""
        room = self.size
        lost = (ctypes.c_int * room)()
        count = ctypes.c_int()
        check(lib.banyan_comm_lost_ranks(self._comm("lost_ranks"), lost, room, ctypes.byref(count)))
        return list(lost[:count.value])


def _add_async_twins():
    """allreduce_async(...) is allreduce(..., _async=True), and so on: one body per collective."""

    def twin(name):
        blocking = getattr(Communicator, name)

        def run_async(self, *args, **kwargs):
            return blocking(self, *args, _async=True, **kwargs)

        run_async.__name__ = name + "_async"
        run_async.__doc__ = f"As {name}(), but returns a Work at once; its wait() returns what {name}() does."
        return run_async

    for name in ("allreduce", "broadcast", "reduce", "allgather", "reduce_scatter", "alltoall", "gather", "scatter",
                 "barrier", "send", "recv"):
        setattr(Communicator, name + "_async", twin(name))


_add_async_twins()
