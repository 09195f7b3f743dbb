"""One rank of a banyan (no torch) test scenario, started by driver.py through
`python3 -m banyan.run`. Runs its scenario's checks in order, each against numpy's answer, and
writes {"checks": [[name, "ok" | failure text], ...], "finished": bool} to
$BANYAN_PY_RESULTS/<scenario>.<rank>.json after every check (so a crash still leaves a report).

    worker.py SCENARIO
"""

import array
import json
import os
import sys
import time
import traceback

import numpy as np

import banyan

DTYPES = [np.float32, np.float64, np.int32]


class Report:
    def __init__(self, scenario, rank):
        self.path = os.path.join(os.environ["BANYAN_PY_RESULTS"], f"{scenario}.{rank}.json")
        self.checks = []
        self.finished = False
        self.write()

    def write(self):
        with open(self.path + ".tmp", "w") as f:
            json.dump({"checks": self.checks, "finished": self.finished}, f)
        os.replace(self.path + ".tmp", self.path)

    def check(self, name, body):
        try:
            body()
            verdict = "ok"
        except Exception:  # any failure of the check is its verdict, reported, not fatal
            verdict = traceback.format_exc(limit=4)
        self.checks.append([name, verdict])
        self.write()


def inputs(rank, n, dtype):
    """Rank r's input: distinct per rank and element, exact in every tested dtype."""
    return (np.arange(n) % 50 + 100 * rank).astype(dtype)


def expect_equal(got, want, what):
    if not np.array_equal(got, want):
        raise AssertionError(f"{what}: got {got!r}, expected {want!r}")


def collectives(comm, dtype):
    r, p, n = comm.rank, comm.size, 7
    everyone = [inputs(q, n, dtype) for q in range(p)]
    name = np.dtype(dtype).name

    def allreduce():
        x = inputs(r, n, dtype)
        assert comm.allreduce(x) is x
        expect_equal(x, sum(everyone).astype(dtype), f"allreduce sum {name} in place")
        out = np.empty(n, dtype)
        comm.allreduce(inputs(r, n, dtype), banyan.MAX, out=out)
        expect_equal(out, np.maximum.reduce(everyone), f"allreduce max {name} out of place")

    def broadcast():
        x = inputs(r, n, dtype)
        comm.broadcast(x, root=p - 1)
        expect_equal(x, everyone[p - 1], f"broadcast {name}")

    def reduce():
        out = np.zeros(n, dtype)
        comm.reduce(inputs(r, n, dtype), banyan.MIN, root=1, out=out)
        if r == 1:
            expect_equal(out, np.minimum.reduce(everyone), f"reduce min {name} to rank 1")
        else:
            expect_equal(out, np.zeros(n, dtype), f"reduce {name}: out off the root untouched")

    def allgather():
        out = np.empty((p, n), dtype)
        comm.allgather(inputs(r, n, dtype), out)
        expect_equal(out, np.stack(everyone), f"allgather {name}")
        whole = np.zeros((p, n), dtype)
        whole[r] = everyone[r]
        assert comm.allgather(whole) is whole
        expect_equal(whole, np.stack(everyone), f"allgather {name} in place")

    def reduce_scatter():
        full = [inputs(q, n * p, dtype) for q in range(p)]
        out = np.empty(n, dtype)
        comm.reduce_scatter(full[r], out)
        expect_equal(out, sum(full).astype(dtype)[r * n:(r + 1) * n], f"reduce_scatter {name}")
        mine = full[r].copy()
        comm.reduce_scatter(mine, op=banyan.MAX)
        want = full[r].copy()
        want[r * n:(r + 1) * n] = np.maximum.reduce(full)[r * n:(r + 1) * n]
        expect_equal(mine, want, f"reduce_scatter max {name} in place")

    def alltoall():
        full = [inputs(q, n * p, dtype) for q in range(p)]
        out = np.empty(n * p, dtype)
        comm.alltoall(full[r], out)
        want = np.concatenate([full[q][r * n:(r + 1) * n] for q in range(p)])
        expect_equal(out, want, f"alltoall {name}")

    def gather_scatter():
        out = np.empty((p, n), dtype) if r == 0 else None
        comm.gather(inputs(r, n, dtype), out, root=0)
        if r == 0:
            expect_equal(out, np.stack(everyone), f"gather {name}")
        piece = np.empty(n, dtype)
        comm.scatter(np.stack(everyone) if r == 0 else None, piece, root=0)
        expect_equal(piece, everyone[r], f"scatter {name}")
        comm.barrier()

    return [(f"{f.__name__} {name}", f) for f in
            (allreduce, broadcast, reduce, allgather, reduce_scatter, alltoall, gather_scatter)]


def expect_error(cls, code, words, call):
    try:
        call()
    except cls as e:
        assert isinstance(e, banyan.Error) and e.code == code, f"{e!r} has code {e.code}, expected {code}"
        for word in words:
            assert word in str(e), f"the message {str(e)!r} does not say {word!r}"
        return
    raise AssertionError(f"no {cls.__name__} raised")


def others(comm):
    r, p = comm.rank, comm.size

    def async_wait():
        x = np.full(1000, r + 1, np.float64)
        gathered = np.empty(p * 3, np.int32)
        w1 = comm.allreduce_async(x)
        w2 = comm.allgather_async(np.full(3, r, np.int32), gathered)
        w3 = comm.barrier_async()
        assert w1.wait(timeout=30) is x
        assert w2.wait() is gathered and w3.test() in (True, False)
        w3.wait()
        assert w3.test()
        expect_equal(x, np.full(1000, p * (p + 1) / 2), "allreduce_async")
        expect_equal(gathered, np.repeat(np.arange(p), 3).astype(np.int32), "allgather_async")

    def split():
        part = comm.split(r % 2, key=-r)
        members = [q for q in range(p) if q % 2 == r % 2]
        assert part.size == len(members), f"split size {part.size}, expected {len(members)}"
        assert part.rank == sorted(members, reverse=True).index(r), f"split rank {part.rank}"
        x = np.array([r], np.int32)
        part.allreduce(x)
        expect_equal(x, np.array([sum(members)], np.int32), "allreduce on the split")
        part.close()
        rest = comm.split(-1 if r == 0 else 0)  # a negative color joins none
        if r == 0:
            assert rest is None, "split with a negative color gave a communicator"
        else:
            assert rest.size == p - 1, f"split without rank 0 has {rest.size} ranks"
            rest.close()

    def subset_agree():
        part = comm.subset([p - 1, 0])
        if r in (0, p - 1):
            assert part.rank == (0 if r == p - 1 else 1), f"subset rank {part.rank}"
            x = np.array([r], np.int64)
            part.allreduce(x)
            expect_equal(x, np.array([p - 1], np.int64), "allreduce on the subset")
            part.close()
        else:
            assert part is None, "a rank not listed got a subset communicator"
        flag, failed = comm.agree(0xF0 | (1 << r))
        assert (flag, failed) == (0xF0, []), f"agree gave {flag:#x}, {failed}"
        assert comm.lost_ranks() == []

    def other_buffers():
        # Any writable buffer, not only numpy: array.array of doubles, a bytearray (uint8).
        values = array.array("d", [r + 0.5] * 4)
        comm.allreduce(values)
        assert list(values) == [sum(q + 0.5 for q in range(p))] * 4, f"array.array allreduce: {values}"
        raw = bytearray([r + 1] * 3)
        comm.broadcast(raw, root=p - 1)
        assert raw == bytearray([p] * 3), f"bytearray broadcast: {raw}"

    def send_recv():
        to, frm = (r + 1) % p, (r - 1) % p
        got = np.empty(5, np.float64)
        work = comm.recv_async(got, banyan.ANY_SOURCE, tag=2)
        comm.send(np.arange(5, dtype=np.float64) + 10 * r, to, tag=2)
        assert work.wait() == frm, "recv_async source"
        expect_equal(got, np.arange(5, dtype=np.float64) + 10 * frm, "recv_async data")
        back = np.empty(2, np.int32)
        if r == 0:
            comm.send(np.array([7, 8], np.int32), p - 1, tag=5)
        if r == p - 1:
            assert comm.recv(back, 0, tag=5) == 0
            expect_equal(back, np.array([7, 8], np.int32), "recv")

    def errors():
        expect_error(banyan.InvalidUsage, 1, ["allreduce buf", "'I'"],
                     lambda: comm.allreduce(np.zeros(4, np.uint32)))
        expect_error(banyan.InvalidUsage, 1, ["not C-contiguous"], lambda: comm.allreduce(np.zeros((4, 4))[:, 1]))
        readonly = np.zeros(4)
        readonly.flags.writeable = False
        expect_error(banyan.InvalidUsage, 1, ["read-only"], lambda: comm.broadcast(readonly))
        expect_error(banyan.InvalidUsage, 1, ["allgather", "out holds 3"],
                     lambda: comm.allgather(np.zeros(2), np.zeros(3)))
        expect_error(banyan.InvalidUsage, 1, ["element types differ"],
                     lambda: comm.allreduce(np.zeros(2, np.float32), out=np.zeros(2)))
        # Refused by libbanyan itself, through the C interface: the message names the C function.
        expect_error(banyan.InvalidUsage, 1, ["banyan_allreduce"],
                     lambda: comm.allreduce(np.zeros(2, np.float32), banyan.BXOR))
        assert isinstance(banyan.InvalidUsage("x"), ValueError)
        comm.barrier()  # the refusals left the communicator working

    def no_torch():
        assert "torch" not in sys.modules, "banyan imported torch"

    return [("async wait", async_wait), ("split", split), ("subset and agree", subset_agree),
            ("array.array and bytearray buffers", other_buffers), ("send/recv", send_recv), ("errors", errors),
            ("no torch", no_torch)]


def timeout(comm):
    def unanswered():
        if comm.rank == 1:
            time.sleep(4)  # alive, and silent, until rank 0's receive has passed its deadline
            return
        expect_error(banyan.Timeout, 4, ["banyan_recv"], lambda: comm.recv(np.empty(1), 1, tag=9))

    return [("recv past BANYAN_TIMEOUT raises banyan.Timeout", unanswered)]


def main():
    scenario = sys.argv[1]
    comm = banyan.Communicator.from_environment()
    report = Report(scenario, comm.rank)
    if scenario == "timeout":
        checks = timeout(comm)
    else:
        checks = [c for dtype in DTYPES for c in collectives(comm, dtype)] + others(comm)
    for name, body in checks:
        report.check(name, body)
    comm.close()
    report.finished = True
    report.write()


if __name__ == "__main__":
    main()
