"""One rank of a banyan_torch test scenario (see driver.py). Every check runs the same
operation on a "banyan" group and on a "gloo" group of the same ranks in this process and
compares the results. gloo in torch 1.13 lacks some dtypes (bool, int16, bfloat16), AVG,
PREMUL_SUM, reduce_scatter and all_gather_into_tensor; for those the reference is gloo run on
what it has: the bytes of the tensor for data movement, a wider dtype for reductions, gloo's
allreduce for reduce-scatter.
"""

import datetime
import faulthandler
import json
import os
import sys
import threading
import time
import traceback

import torch
import torch.distributed as dist

import banyan_torch  # registers "banyan"; shrink etc. in failure_checks

RANK = int(os.environ["RANK"])
SIZE = int(os.environ["WORLD_SIZE"])
RESULTS = os.environ["BANYAN_TORCH_RESULTS"]

_checks = []  # (name, verdict)
_state = {"expected_exit": 0}


def save(finished):
    with open(RESULTS + ".tmp", "w") as f:
        json.dump({"checks": _checks, "finished": finished, "expected_exit": _state["expected_exit"]}, f)
    os.replace(RESULTS + ".tmp", RESULTS)


class Groups:
    """The banyan and gloo groups a check compares; rebuilt after a failed check, since a
    failed banyan communicator refuses further work."""

    def __init__(self):
        self.gloo = dist.new_group(backend="gloo")
        self.banyan = dist.group.WORLD

    def rebuild(self):
        self.banyan = dist.new_group(backend="banyan")


G = None


def run(name, fn, *args):
    """Runs one check on every rank; afterwards the ranks agree (through gloo) whether anyone
    failed, and if so start a fresh banyan group so later checks are not poisoned.
    BANYAN_TORCH_ONLY (a substring of check names) runs a subset, for debugging."""
    only = os.environ.get("BANYAN_TORCH_ONLY")
    if only and not any(part in name for part in only.split("|")):
        return
    print(f"check: {name}", flush=True)
    start = time.monotonic()
    try:
        fn(*args)
        verdict = "ok"
    except Exception:
        verdict = traceback.format_exc(limit=6)
    _checks.append((name, verdict))
    print(f"  {time.monotonic() - start:.3f} s", flush=True)
    flag = torch.tensor([0 if verdict == "ok" else 1], dtype=torch.int32)
    dist.all_reduce(flag, group=G.gloo)
    if flag.item():
        G.rebuild()
    save(False)


# ---- data --------------------------------------------------------------------------------

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8,
          torch.int16, torch.int32, torch.int64, torch.bool, torch.complex64, torch.complex128]
REAL_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
INTS = (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)
OPS = {"SUM": dist.ReduceOp.SUM, "AVG": dist.ReduceOp.AVG, "PRODUCT": dist.ReduceOp.PRODUCT,
       "MIN": dist.ReduceOp.MIN, "MAX": dist.ReduceOp.MAX, "BAND": dist.ReduceOp.BAND,
       "BOR": dist.ReduceOp.BOR, "BXOR": dist.ReduceOp.BXOR}
GLOO_REDUCE_TYPES = (torch.float32, torch.float64, torch.float16, torch.int8, torch.uint8,
                     torch.int32, torch.int64)


def defined(dtype, opname):
    if opname in ("BAND", "BOR", "BXOR"):
        return dtype in INTS or dtype == torch.bool
    if dtype.is_complex:
        return opname in ("SUM", "AVG", "PREMUL_SUM")
    if dtype == torch.bool:
        return opname not in ("AVG", "PREMUL_SUM")
    if opname == "PREMUL_SUM":
        return dtype in REAL_FLOATS
    return True


def make(dtype, shape, seed, opname="SUM", rank=None):
    """Deterministic input of `rank` (default: this rank). Floats are small integers so sums
    and products are exact in every precision and summation order; integers use their full
    range (sums and products wrap); PRODUCT inputs stay in {-2..2}."""
    rank = RANK if rank is None else rank
    g = torch.Generator().manual_seed(seed * 131 + rank)
    n = 1
    for s in shape:
        n *= s
    if dtype == torch.bool:
        return (torch.randint(0, 2, (n,), generator=g) == 1).reshape(shape)
    if dtype.is_complex:
        real = torch.randint(-8, 9, (2 * n,), generator=g).to(torch.float64)
        return torch.view_as_complex(real.reshape(n, 2)).to(dtype).reshape(shape)
    if opname == "PRODUCT":
        v = torch.randint(-2, 3, (n,), generator=g)
        if dtype == torch.uint8:
            v = v.abs()
        return v.to(dtype).reshape(shape)
    if dtype in INTS:
        info = torch.iinfo(dtype)
        lo, hi = max(info.min, -2**40), min(info.max, 2**40)
        return torch.randint(lo, hi, (n,), generator=g, dtype=torch.int64).to(dtype).reshape(shape)
    return torch.randint(-8, 9, (n,), generator=g).to(dtype).reshape(shape)


def as_bytes(t):
    """The bytes of a contiguous tensor, as uint8 (what gloo moves for any dtype)."""
    t = t.contiguous()
    if t.dtype == torch.bool:
        return t.view(torch.uint8).reshape(-1)
    return t.reshape(-1).view(torch.uint8)


def from_bytes(b, like):
    if like.dtype == torch.bool:
        return b.view(torch.bool).reshape(like.shape)
    return b.view(like.dtype).reshape(like.shape)


def gloo_allreduce(t, opname, factor=None):
    """gloo's allreduce of `t` with torch semantics, for every dtype and op."""
    dtype = t.dtype
    if opname == "PREMUL_SUM":
        x = (t * factor).to(dtype)
        return gloo_allreduce(x, "SUM")
    if opname == "AVG":
        s = gloo_allreduce(t, "SUM")
        if dtype in INTS:
            return torch.div(s.to(torch.int64), SIZE, rounding_mode="trunc").to(dtype)
        wide = torch.complex128 if dtype.is_complex else torch.float64
        return (s.to(wide) / SIZE).to(dtype)
    if dtype.is_complex:
        x = torch.view_as_real(t.clone())
        dist.all_reduce(x, op=OPS[opname], group=G.gloo)
        return torch.view_as_complex(x)
    if dtype == torch.bool:
        x = t.to(torch.int32)
        dist.all_reduce(x, op=OPS[opname], group=G.gloo)
        return x != 0
    if dtype in GLOO_REDUCE_TYPES:
        x = t.clone()
        dist.all_reduce(x, op=OPS[opname], group=G.gloo)
        return x
    wide = torch.float32 if dtype == torch.bfloat16 else torch.int64  # bfloat16, int16
    x = t.to(wide)
    dist.all_reduce(x, op=OPS[opname], group=G.gloo)
    return x.to(dtype)  # int64 -> int16 wraps modulo 2^16, as int16 arithmetic does


def banyan_op(opname, factor=None):
    if opname == "PREMUL_SUM":
        return dist._make_nccl_premul_sum(factor)
    return OPS[opname]


def same(got, want, what, dtype=None):
    dtype = dtype or want.dtype
    if got.dtype != want.dtype or got.shape != want.shape:
        raise AssertionError(f"{what}: got {got.dtype}{tuple(got.shape)}, want {want.dtype}{tuple(want.shape)}")
    if dtype in (torch.float16, torch.bfloat16):
        ok = torch.allclose(got.float(), want.float(), rtol=1e-2, atol=1e-2)
    elif dtype.is_floating_point or dtype.is_complex:
        ok = torch.allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
        ok = torch.equal(got, want)
    if not ok:
        bad = (got != want).reshape(-1).nonzero()[:5].reshape(-1).tolist()
        raise AssertionError(f"{what}: differs at {bad}: got {got.reshape(-1)[bad].tolist()} "
                             f"want {want.reshape(-1)[bad].tolist()}")


def expect_error(fn, *needles):
    try:
        fn()
    except RuntimeError as e:
        text = str(e)
        missing = [n for n in needles if n not in text]
        if missing:
            raise AssertionError(f"error text lacks {missing}: {text}")
        return text
    raise AssertionError(f"no RuntimeError (wanted one naming {needles})")


def strided(t):
    """t's values in a non-contiguous view (every other element of a buffer twice as long)."""
    flat = t.reshape(-1)
    buf = torch.zeros(flat.numel() * 2, dtype=t.dtype)
    view = buf[::2]
    view.copy_(flat)
    assert not view.is_contiguous() or flat.numel() <= 1
    return view


def name_of(dtype):
    return str(dtype).replace("torch.", "")


# ---- checks: reductions ------------------------------------------------------------------

def check_allreduce(dtype, opname, contiguous):
    factor = 0.5 if opname == "PREMUL_SUM" else None
    for seed, shape in ((1, (5, 3)), (2, (1000,)), (3, (0,))):
        x = make(dtype, shape, seed, opname)
        want = gloo_allreduce(x, opname, factor)
        got = x.clone() if contiguous else strided(x)
        dist.all_reduce(got, op=banyan_op(opname, factor), group=G.banyan)
        same(got.reshape(shape), want, f"all_reduce {name_of(dtype)} {opname} {shape}")


def check_allreduce_undefined(dtype, opname):
    x = make(dtype, (4,), 7)
    factor = 0.5 if opname == "PREMUL_SUM" else None
    if dtype.is_complex:
        # dist.all_reduce refuses these itself; dist.reduce hands complex tensors to the backend.
        expect_error(lambda: dist.reduce(x, 0, op=banyan_op(opname, factor), group=G.banyan),
                     "banyan", opname, "Complex")
    else:
        expect_error(lambda: dist.all_reduce(x, op=banyan_op(opname, factor), group=G.banyan),
                     "banyan", opname)


def check_reduce(dtype, opname, root):
    x = make(dtype, (33,), 11 + root, opname)
    want = gloo_allreduce(x, opname)
    got = x.clone()
    dist.reduce(got, root, op=OPS[opname], group=G.banyan)
    if RANK == root:
        same(got, want, f"reduce {name_of(dtype)} {opname} root {root}")
    else:
        same(got, x, f"reduce leaves rank {RANK}'s input alone")


def check_reduce_scatter(dtype, opname, base, contiguous):
    n = 7
    full = make(dtype, (SIZE * n,), 21, opname)
    want = gloo_allreduce(full, opname)[RANK * n:(RANK + 1) * n]
    out = torch.zeros(n, dtype=dtype) if contiguous else strided(torch.zeros(n, dtype=dtype))
    if base:
        dist.reduce_scatter_tensor(out, full, op=OPS[opname], group=G.banyan)
    else:
        dist.reduce_scatter(out, list(full.split(n)), op=OPS[opname], group=G.banyan)
    same(out, want, f"reduce_scatter{'_tensor' if base else ''} {name_of(dtype)} {opname}")


def check_allreduce_coalesced(dtype, opname):
    xs = [make(dtype, shape, 30 + i, opname) for i, shape in enumerate([(3,), (2, 4), (0,), (5,)])]
    want = [gloo_allreduce(x, opname) for x in xs]
    got = [x.clone() for x in xs]
    got[3] = strided(got[3])  # one non-contiguous member
    dist.all_reduce_coalesced(got, op=OPS[opname], group=G.banyan)
    for i, (g, w) in enumerate(zip(got, want)):
        same(g, w, f"all_reduce_coalesced[{i}] {name_of(dtype)} {opname}")


def check_premul_tensor_factor():
    x = make(torch.float32, (9,), 40)
    factor = torch.tensor([0.25])
    want = gloo_allreduce(x, "PREMUL_SUM", 0.25)
    got = x.clone()
    dist.all_reduce(got, op=dist._make_nccl_premul_sum([factor]), group=G.banyan)
    same(got, want, "all_reduce PREMUL_SUM with a tensor factor")
    rs = torch.zeros(3)
    dist.reduce_scatter_tensor(rs, make(torch.float64, (3 * SIZE,), 41).float(),
                               op=dist._make_nccl_premul_sum(2.0), group=G.banyan)
    want = gloo_allreduce(make(torch.float64, (3 * SIZE,), 41).float() * 2, "SUM")[RANK * 3:RANK * 3 + 3]
    same(rs, want, "reduce_scatter_tensor PREMUL_SUM")


# ---- checks: data movement ---------------------------------------------------------------

def check_broadcast(dtype, root, contiguous):
    x = make(dtype, (4, 5), 50 + root)
    want_bytes = as_bytes(x).clone()
    dist.broadcast(want_bytes, root, group=G.gloo)
    want = from_bytes(want_bytes, x)
    got = x.clone() if contiguous else strided(x)
    dist.broadcast(got, root, group=G.banyan)
    same(got.reshape(want.shape), want, f"broadcast {name_of(dtype)} root {root}")


def gloo_allgather(x):
    parts = [torch.zeros_like(as_bytes(x)) for _ in range(SIZE)]
    dist.all_gather(parts, as_bytes(x), group=G.gloo)
    return [from_bytes(p, x) for p in parts]


def check_allgather(dtype, contiguous):
    x = make(dtype, (3, 2), 60)
    want = gloo_allgather(x)
    if contiguous:
        out = [torch.zeros_like(x) for _ in range(SIZE)]
    else:
        out = [torch.zeros(2, 3, dtype=dtype).t() for _ in range(SIZE)]  # (3, 2), non-contiguous
    dist.all_gather(out, x, group=G.banyan)
    for r in range(SIZE):
        same(out[r], want[r], f"all_gather {name_of(dtype)} block {r}")
    # all_gather_into_tensor (_allgather_base): one flat output
    flat = torch.zeros(SIZE * 6, dtype=dtype) if contiguous else strided(torch.zeros(SIZE * 6, dtype=dtype))
    dist.all_gather_into_tensor(flat, x, group=G.banyan)
    same(flat, torch.cat([w.reshape(-1) for w in want]), f"all_gather_into_tensor {name_of(dtype)}")


def check_allgather_coalesced(dtype):
    xs = [make(dtype, (2,), 70), make(dtype, (3, 2), 71)]
    want = [gloo_allgather(x) for x in xs]
    out = [[torch.zeros_like(x) for x in xs] for _ in range(SIZE)]
    dist.all_gather_coalesced(out, xs, group=G.banyan)
    for r in range(SIZE):
        for i in range(len(xs)):
            same(out[r][i], want[i][r], f"all_gather_coalesced {name_of(dtype)} rank {r} tensor {i}")


def check_gather_scatter(dtype, root):
    x = make(dtype, (4,), 80 + root)
    want = gloo_allgather(x)
    gl = [torch.zeros_like(x) for _ in range(SIZE)] if RANK == root else None
    dist.gather(x, gl, dst=root, group=G.banyan)
    if RANK == root:
        for r in range(SIZE):
            same(gl[r], want[r], f"gather {name_of(dtype)} root {root} block {r}")
    # scatter: the root's list, block r to rank r
    blocks = [make(dtype, (2, 3), 90 + r, rank=root) for r in range(SIZE)]
    out = torch.zeros(3, 2, dtype=dtype).t()  # non-contiguous output
    dist.scatter(out, blocks if RANK == root else None, src=root, group=G.banyan)
    want = torch.zeros_like(as_bytes(blocks[RANK]))
    dist.scatter(want, [as_bytes(b) for b in blocks] if RANK == root else None, src=root, group=G.gloo)
    same(out, from_bytes(want, blocks[RANK]), f"scatter {name_of(dtype)} root {root}")


def check_alltoall(dtype):
    # Equal blocks.
    x = make(dtype, (SIZE * 3,), 100)
    want = torch.zeros_like(as_bytes(x))
    dist.all_to_all_single(want, as_bytes(x), group=G.gloo)
    got = torch.zeros_like(x)
    dist.all_to_all_single(got, x, group=G.banyan)
    same(got, from_bytes(want, x), f"all_to_all_single {name_of(dtype)}")
    # Uneven rows: rank r sends (r + p) % 3 rows of 2 to rank p.
    sends = [(RANK + p) % 3 for p in range(SIZE)]
    recvs = [(p + RANK) % 3 for p in range(SIZE)]
    x = make(dtype, (sum(sends), 2), 101)
    got = torch.zeros(sum(recvs), 2, dtype=dtype)
    dist.all_to_all_single(got, x, recvs, sends, group=G.banyan)
    elem = as_bytes(x[:1]).numel() // 2 if x.numel() else 1
    want = torch.zeros(sum(recvs) * 2 * elem, dtype=torch.uint8)
    dist.all_to_all_single(want, as_bytes(x), [r * 2 * elem for r in recvs], [s * 2 * elem for s in sends],
                           group=G.gloo)
    same(got, from_bytes(want, got), f"all_to_all_single uneven {name_of(dtype)}")
    # List form, blocks of different sizes: expected from the senders' (deterministic) inputs.
    ins = [make(dtype, (RANK + p + 1,), 102 + p) for p in range(SIZE)]
    outs = [torch.zeros(p + RANK + 1, dtype=dtype) for p in range(SIZE)]
    dist.all_to_all(outs, ins, group=G.banyan)
    for p in range(SIZE):
        same(outs[p], make(dtype, (p + RANK + 1,), 102 + RANK, rank=p), f"all_to_all {name_of(dtype)} from {p}")


# ---- checks: point-to-point, async, groups, sequence numbers -----------------------------

def check_send_recv(dtype):
    nxt, prv = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    x = make(dtype, (6,), 110)
    got = torch.zeros(3, 2, dtype=dtype).t()  # non-contiguous receive
    # Even ranks send first: blocking send/recv in opposite orders may not deadlock.
    if RANK % 2 == 0:
        dist.send(x, nxt, group=G.banyan, tag=5)
        dist.recv(got, prv, group=G.banyan, tag=5)
    else:
        dist.recv(got, prv, group=G.banyan, tag=5)
        dist.send(x, nxt, group=G.banyan, tag=5)
    same(got.reshape(-1), make(dtype, (6,), 110, rank=prv), f"recv {name_of(dtype)} from {prv}")
    # The same exchange over gloo gives the same bytes.
    want = torch.zeros_like(as_bytes(x))
    reqs = [dist.isend(as_bytes(x), nxt, group=G.gloo, tag=6), dist.irecv(want, prv, group=G.gloo, tag=6)]
    for r in reqs:
        r.wait()
    same(as_bytes(got.contiguous().reshape(-1)), want, f"recv {name_of(dtype)} against gloo")


def check_tags_and_anysource():
    # Tags select: rank 0 receives tag 2 before tag 1 although rank 1 sent tag 1 first.
    if RANK == 1:
        a, b = torch.tensor([1.0]), torch.tensor([2.0])
        w1 = dist.isend(a, 0, group=G.banyan, tag=1)
        w2 = dist.isend(b, 0, group=G.banyan, tag=2)
        w1.wait(), w2.wait()
    elif RANK == 0:
        t2, t1 = torch.zeros(1), torch.zeros(1)
        dist.recv(t2, 1, group=G.banyan, tag=2)
        dist.recv(t1, 1, group=G.banyan, tag=1)
        assert t1.item() == 1.0 and t2.item() == 2.0, (t1, t2)
    # Any source: rank 0 takes one message from every other rank and learns who sent it.
    if RANK == 0:
        seen = set()
        for _ in range(SIZE - 1):
            t = torch.zeros(2)
            src = dist.recv(t, group=G.banyan, tag=9)  # src=None: recv_anysource
            assert t.tolist() == [src * 10.0, src * 10.0 + 1], (src, t)
            seen.add(src)
        assert seen == set(range(1, SIZE)), seen
    else:
        dist.send(torch.tensor([RANK * 10.0, RANK * 10.0 + 1]), 0, group=G.banyan, tag=9)


def check_async_overlaps():
    """async_op=True returns before the collective completes and it completes without wait()."""
    x = torch.full((1 << 20,), float(RANK + 1))
    if RANK == 1:
        time.sleep(1.0)  # rank 0's operation cannot complete before rank 1 joins
    start = time.monotonic()
    work = dist.all_reduce(x, group=G.banyan, async_op=True)
    issued = time.monotonic() - start
    fut = work.get_future()
    chained = fut.then(lambda f: f.value()[0][:4].sum().item())
    if RANK == 0:
        assert issued < 0.5, f"all_reduce(async_op=True) took {issued:.3f} s to return"
        assert not work.is_completed(), "completed before rank 1 called all_reduce"
    # Compute while it runs, polling without wait(): banyan's progress thread must finish it.
    deadline = time.monotonic() + 60
    acc = torch.zeros(64, 64)
    while not work.is_completed():
        acc = acc @ torch.eye(64) + 1
        assert time.monotonic() < deadline, "never completed without wait()"
    total = SIZE * (SIZE + 1) / 2
    same(x[:8], torch.full((8,), total), "async all_reduce result")
    same(fut.wait()[0][:8], torch.full((8,), total), "future value")
    assert chained.wait() == 4 * total, chained.wait()
    assert work.is_success()


def check_many_async():
    works, xs = [], []
    for i in range(20):
        x = make(torch.float32, (100 + i,), 120 + i)
        xs.append((x.clone(), x))
        works.append(dist.all_reduce(x, group=G.banyan, async_op=True))
    for w in reversed(works):
        w.wait()
    for i, (orig, got) in enumerate(xs):
        same(got, gloo_allreduce(orig, "SUM"), f"async all_reduce #{i}")


def check_subgroups():
    for ranks in ([0, SIZE - 1], [SIZE - 1], list(range(1, SIZE))):  # sorted, as new_group keeps them
        b = dist.new_group(ranks, backend="banyan")
        g = dist.new_group(ranks, backend="gloo")
        if RANK not in ranks:
            assert b == dist.GroupMember.NON_GROUP_MEMBER
            continue
        x = make(torch.int64, (10,), 130 + len(ranks))
        want = x.clone()
        dist.all_reduce(want, group=g)
        got = x.clone()
        dist.all_reduce(got, group=b)
        same(got, want, f"all_reduce on new_group({ranks})")
        out = [torch.zeros_like(x) for _ in ranks]
        dist.all_gather(out, x, group=b)
        ref = [torch.zeros_like(x) for _ in ranks]
        dist.all_gather(ref, x, group=g)
        for i in range(len(ranks)):
            same(out[i], ref[i], f"all_gather on new_group({ranks}) block {i}")
        src = ranks[-1]  # a global rank
        y = make(torch.float32, (5,), 140, rank=src) if RANK == src else torch.zeros(5)
        dist.broadcast(y, src, group=b)
        same(y, make(torch.float32, (5,), 140, rank=src), f"broadcast from global rank {src} on new_group({ranks})")
        assert dist.get_rank(b) == ranks.index(RANK) and dist.get_world_size(b) == len(ranks)


def check_sequence_numbers():
    pg = G.banyan if G.banyan is not None and G.banyan != dist.group.WORLD else dist.distributed_c10d._get_default_group()
    before = pg._get_sequence_number_for_group()
    for _ in range(3):
        dist.all_reduce(torch.ones(1), group=G.banyan)
    dist.barrier(group=G.banyan)
    after = pg._get_sequence_number_for_group()
    assert after == before + 4, (before, after)
    numbers = [torch.zeros(1, dtype=torch.int64) for _ in range(SIZE)]
    dist.all_gather(numbers, torch.tensor([after], dtype=torch.int64), group=G.gloo)
    assert all(n.item() == after for n in numbers), numbers


def check_barriers():
    dist.barrier(group=G.banyan)
    w = dist.barrier(group=G.banyan, async_op=True)
    w.wait()
    pg = G.banyan if G.banyan != dist.group.WORLD else dist.distributed_c10d._get_default_group()
    pg.monitored_barrier(datetime.timedelta(seconds=60), wait_all_ranks=True)
    pg.monitored_barrier(datetime.timedelta(seconds=60))


# ---- checks: errors ----------------------------------------------------------------------

def check_errors():
    b = G.banyan
    expect_error(lambda: dist.all_reduce(torch.ones(3), op=dist.ReduceOp.BXOR, group=b), "banyan", "BXOR", "Float")
    expect_error(lambda: dist.reduce(torch.ones(2, dtype=torch.complex64), 0, op=dist.ReduceOp.MAX, group=b),
                 "banyan", "MAX", "ComplexFloat", "pairs of reals")
    expect_error(lambda: dist.all_reduce(torch.ones(2, dtype=torch.bool), op=dist.ReduceOp.AVG, group=b),
                 "banyan", "AVG", "Bool")
    expect_error(lambda: dist.all_reduce(torch.ones(2, dtype=torch.int32), op=dist._make_nccl_premul_sum(2.0),
                                         group=b), "banyan", "PREMUL_SUM", "Int")
    q = torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.quint8)
    expect_error(lambda: dist.broadcast(q, 0, group=b), "banyan", "QUInt8", "not supported")
    # all_reduce takes sparse tensors (check_sparse_*); the other collectives still refuse them.
    expect_error(lambda: dist.broadcast(torch.ones(2, 2).to_sparse(), 0, group=b), "banyan", "sparse")
    expect_error(lambda: dist.all_reduce(torch.ones(2, 2).to_sparse(), op=dist.ReduceOp.MAX, group=b),
                 "banyan", "sparse", "MAX", "only ReduceOp.SUM")
    expect_error(lambda: dist.all_gather([torch.zeros(3) for _ in range(SIZE + 1)], torch.ones(3), group=b),
                 "banyan", "allgather", str(SIZE))
    expect_error(lambda: b_pg().allgather([[torch.zeros(3, dtype=torch.int32) for _ in range(SIZE)]],
                                          [torch.ones(3)]), "banyan", "dtype")
    expect_error(lambda: dist.all_gather_into_tensor(torch.zeros(SIZE * 3 + 1), torch.ones(3), group=b),
                 "banyan", "elements")
    expect_error(lambda: b_pg().broadcast(torch.ones(1), SIZE + 3), "banyan", "root rank")
    expect_error(lambda: dist.all_to_all_single(torch.zeros(SIZE), torch.ones(SIZE), [1] * SIZE, [2] * SIZE,
                                                group=b), "banyan", "split sizes")
    expect_error(lambda: b_pg().send([torch.ones(1)], SIZE + 1, 0), "banyan", "peer rank")
    expect_error(lambda: dist.reduce_scatter_tensor(torch.zeros(2), torch.ones(2 * SIZE + 1), group=b),
                 "banyan", "world size")
    # Nothing above reached the wire: the group still works.
    x = torch.ones(2)
    dist.all_reduce(x, group=b)
    same(x, torch.full((2,), float(SIZE)), "all_reduce after the refused calls")


def b_pg():
    return G.banyan if G.banyan != dist.group.WORLD else dist.distributed_c10d._get_default_group()


# ---- checks: sparse all_reduce -----------------------------------------------------------

SPARSE_CASES = ("overlapping", "disjoint", "empty on one rank", "empty everywhere", "hybrid 1+2 dims",
                "hybrid 2+1 dims", "uncoalesced")
GLOO_SPARSE_TYPES = (torch.float32, torch.float64, torch.int8, torch.uint8, torch.int32, torch.int64)


def make_sparse(case, dtype, rank=None):
    """Rank `rank`'s sparse COO input for `case`; uncoalesced unless stated (indices drawn with
    repeats), values small integers so that sums are exact in every dtype."""
    rank = RANK if rank is None else rank
    g = torch.Generator().manual_seed(1000 + 17 * SPARSE_CASES.index(case) + rank)
    shape, sparse_dim, nnz, lo, hi = (40, 6), 2, 30, 0, 40
    if case == "disjoint":
        lo, hi = 10 * rank, 10 * rank + 10
    elif case == "empty on one rank" and rank == SIZE - 1 or case == "empty everywhere":
        nnz = 0
    elif case == "hybrid 1+2 dims":
        shape, sparse_dim = (40, 3, 5), 1
    elif case == "hybrid 2+1 dims":
        shape, sparse_dim = (40, 6, 4), 2
    elif case == "uncoalesced":
        nnz, hi = 40, 5  # every row index repeats on every rank
    rows = torch.randint(lo, hi, (nnz,), generator=g)
    index = [rows] + [torch.randint(0, shape[d], (nnz,), generator=g) for d in range(1, sparse_dim)]
    values = torch.randint(-8, 9, (nnz,) + shape[sparse_dim:], generator=g)
    if dtype == torch.bool:
        values = values > 0
    elif dtype == torch.uint8:
        values = values.abs()
    t = torch.sparse_coo_tensor(torch.stack(index), values.to(dtype), shape)
    if case == "uncoalesced":
        assert not t.is_coalesced() and t.coalesce()._nnz() < nnz
    return t


def gloo_sparse_allreduce(t):
    """gloo's sparse all_reduce of `t`; for dtypes gloo 1.13 refuses (float16, bfloat16,
    int16, bool), gloo's on a wider dtype (exact: small integers), brought back."""
    if t.dtype in GLOO_SPARSE_TYPES:
        x = t.clone()
        dist.all_reduce(x, group=G.gloo)
        return x
    wide = torch.float32 if t.dtype.is_floating_point else torch.int64
    x = t.to(wide)
    dist.all_reduce(x, group=G.gloo)
    values = x._values() != 0 if t.dtype == torch.bool else x._values().to(t.dtype)
    return torch.sparse_coo_tensor(x._indices(), values, x.shape).coalesce()


def check_sparse_allreduce(case, dtype, async_op):
    t = make_sparse(case, dtype)
    want = gloo_sparse_allreduce(t)
    got = t.clone()
    version = got._version
    work = dist.all_reduce(got, group=G.banyan, async_op=async_op)
    if async_op:
        result = work.get_future().wait()
        assert len(result) == 1 and result[0] is got, "the future's value is not the input tensor"
        work.wait()
    assert got._version > version, "the result was written without bumping the version (autograd's check)"
    assert got.is_sparse and got.is_coalesced() == want.is_coalesced() == True, (got.is_coalesced(),
                                                                                 want.is_coalesced())
    assert (got.shape, got.dtype, got.sparse_dim(), got.dense_dim()) == \
        (want.shape, want.dtype, want.sparse_dim(), want.dense_dim()), (got, want)
    same(got._indices(), want._indices(), f"{case} indices")
    same(got._values(), want._values(), f"{case} values")
    # Independently of gloo: the dense sum of every rank's input.
    dense = sum(make_sparse(case, dtype, rank=r).to(torch.int64).to_dense() for r in range(SIZE))
    if dtype == torch.bool:
        dense = dense != 0
    same(got.to_dense().to(dense.dtype), dense.to(dense.dtype), f"{case} against the dense sum")


def check_sparse_results_are_kept():
    """banyan reuses its receive buffers from call to call: earlier results must not change,
    whether they were summed into new memory or (a single entry, which coalesce may return as
    it is) not, and several calls in flight at once must not share a buffer."""
    one = torch.sparse_coo_tensor(torch.tensor([[2], [3]]), torch.tensor([5.0]), (4, 4)) if RANK == 0 else \
        torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.int64), torch.zeros(0), (4, 4))
    dist.all_reduce(one, group=G.banyan)
    kept = [(one, one.to_dense().clone())]
    for case in ("overlapping", "disjoint", "hybrid 2+1 dims"):
        t = make_sparse(case, torch.float32)
        dist.all_reduce(t, group=G.banyan)
        kept.append((t, t.to_dense().clone()))
    # Four in flight at once (the pool keeps two buffers), waited in reverse.
    inputs = [make_sparse(case, torch.float32) for case in ("overlapping", "uncoalesced", "disjoint", "overlapping")]
    inputs[3] = inputs[3] * 3
    outputs = [t.clone() for t in inputs]
    works = [dist.all_reduce(t, group=G.banyan, async_op=True) for t in outputs]
    for w in reversed(works):
        w.wait()
    for i, (t, out) in enumerate(zip(inputs, outputs)):
        want = gloo_sparse_allreduce(t)
        same(out._values(), want._values(), f"in flight #{i} values")
        same(out._indices(), want._indices(), f"in flight #{i} indices")
    for i, (t, dense) in enumerate(kept):
        same(t.to_dense(), dense, f"result #{i} after later calls")
    assert one._nnz() == 1 and one.to_dense()[2, 3].item() == 5.0, one


def check_sparse_errors():
    b = G.banyan
    i = torch.tensor([[0, 1], [1, 0]])
    # The last rank's tensor is one column wider: every rank names it.
    wide = torch.sparse_coo_tensor(i, torch.ones(2), (3, 4 if RANK == SIZE - 1 else 3))
    expect_error(lambda: dist.all_reduce(wide, group=b), "banyan", f"rank {SIZE - 1}", "sizes [3, 4]", "[3, 3]")
    other = torch.sparse_coo_tensor(i, torch.ones(2, dtype=torch.float64 if RANK == SIZE - 1 else torch.float32),
                                    (3, 3))
    expect_error(lambda: dist.all_reduce(other, group=b), "banyan", f"rank {SIZE - 1}", "Double", "Float")
    split = torch.sparse_coo_tensor(i[:1], torch.ones(2, 3), (3, 3)) if RANK == SIZE - 1 else \
        torch.sparse_coo_tensor(i, torch.ones(2), (3, 3))
    expect_error(lambda: dist.all_reduce(split, group=b), "banyan", f"rank {SIZE - 1}", "sparse dims")
    # Refused before anything reached the wire, or after an exchange every rank saw alike: the
    # group still works.
    x = torch.sparse_coo_tensor(i, torch.ones(2), (3, 3))
    dist.all_reduce(x, group=b)
    same(x.to_dense(), SIZE * torch.sparse_coo_tensor(i, torch.ones(2), (3, 3)).to_dense(),
         "sparse all_reduce after the refused calls")


def check_sparse_against_dense():
    """The last rank passes a dense tensor where the others pass a sparse one: banyan's call
    check sees an allreduce meet the sparse path's size exchange, and every rank fails at
    once (not by the timeout). Such a mismatch ends the communicator, so a new group follows."""
    i = torch.tensor([[0, 1], [1, 0]])
    x = torch.ones(3, 3) if RANK == SIZE - 1 else torch.sparse_coo_tensor(i, torch.ones(2), (3, 3))
    start = time.monotonic()
    expect_error(lambda: dist.all_reduce(x, group=G.banyan), "banyan", "InvalidUsage", "allgather", "allreduce")
    took = time.monotonic() - start
    G.rebuild()
    assert took < 30, f"the mismatch took {took:.1f} s to fail"


def sparse_ddp_train(group, steps=5):
    """DDP over `group` of an embedding with sparse gradients and a dense head, from one seed;
    each rank looks up its own rows. Returns (losses, module)."""
    torch.manual_seed(4321)
    module = torch.nn.Sequential(torch.nn.Embedding(1000, 16, sparse=True), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 16, 1))
    model = torch.nn.parallel.DistributedDataParallel(module, process_group=group)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(77 + RANK)
    losses = []
    for _ in range(steps):
        ids = torch.randint(0, 50, (8, 4), generator=g)  # few rows: the ranks' rows overlap
        target = ids.float().mean(dim=1, keepdim=True) / 50
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(ids), target)
        loss.backward()
        assert module[0].weight.grad.is_sparse
        opt.step()
        losses.append(loss.item())
    return losses, module


def check_sparse_ddp_matches_gloo():
    banyan_losses, banyan_model = sparse_ddp_train(G.banyan)
    gloo_losses, gloo_model = sparse_ddp_train(G.gloo)
    assert torch.allclose(torch.tensor(banyan_losses), torch.tensor(gloo_losses), rtol=1e-5, atol=1e-7), \
        (banyan_losses, gloo_losses)
    for (name, p), (_, q) in zip(banyan_model.named_parameters(), gloo_model.named_parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6), f"parameter {name} differs"
    # The embedding was trained on every rank's rows: the replicas agree.
    ref = banyan_model[0].weight.detach().clone()
    dist.broadcast(ref, 0, group=G.gloo)
    same(banyan_model[0].weight.detach(), ref, "sparse DDP replicas agree")


# ---- checks: DistributedDataParallel -----------------------------------------------------

def check_ddp_matches_gloo():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
    import torch_ddp  # examples/torch_ddp.py

    banyan_losses, banyan_model = torch_ddp.train(group=G.banyan, steps=6)
    gloo_losses, gloo_model = torch_ddp.train(group=G.gloo, steps=6)
    assert len(banyan_losses) == 6
    for step, (a, b) in enumerate(zip(banyan_losses, gloo_losses)):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), f"step {step}: banyan loss {a} gloo loss {b}"
    for (name, p), (_, q) in zip(banyan_model.named_parameters(), gloo_model.named_parameters()):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-6), f"parameter {name} differs"
    # The replicas agree with each other too (DDP's own invariant).
    flat = torch.cat([p.detach().reshape(-1) for p in banyan_model.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, 0, group=G.gloo)
    same(flat, ref, "DDP replicas agree")


def check_ddp_compressed(fmt):
    """DDP through banyan_torch.compression's hook: the replicas stay bit-identical (every rank
    decodes the same bits), the losses stay near gloo's f32 training, and the residuals are kept."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
    import torch_ddp  # examples/torch_ddp.py
    from banyan_torch import _C
    from banyan_torch.compression import CompressionState

    compressed, model = torch_ddp.train(group=G.banyan, steps=6, compress=fmt)
    reference, _ = torch_ddp.train(group=G.gloo, steps=6)
    for step, (a, b) in enumerate(zip(compressed, reference)):
        assert abs(a - b) <= 0.05 * abs(b), f"step {step}: {fmt} loss {a}, f32 loss {b}"
    assert compressed != reference, "the compressed run gave f32's losses exactly: did it compress?"
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, 0, group=G.gloo)
    same(flat, ref, "compressed DDP replicas agree")
    state = CompressionState(fmt)
    assert len(state.residual_for(0, 10)) == 0 and state.residual_for(0, 10) is state.residual_for(0, 10)
    assert CompressionState(fmt, error_feedback=False).residual_for(0, 10) is None
    expect_error(lambda: _C.compressed_allreduce(G.banyan, torch.ones(4, dtype=torch.float64), fmt, None).wait(),
                 "compressed allreduce takes an f32 sum only")


# ---- scenarios ---------------------------------------------------------------------------

def collective_checks():
    for dtype in DTYPES:
        for opname in list(OPS) + ["PREMUL_SUM"]:
            if defined(dtype, opname):
                run(f"all_reduce {name_of(dtype)} {opname}", check_allreduce, dtype, opname, True)
            elif not (dtype.is_complex and opname in ("BAND", "BOR", "BXOR")):
                run(f"all_reduce {name_of(dtype)} {opname} is refused", check_allreduce_undefined, dtype, opname)
        run(f"all_reduce {name_of(dtype)} SUM non-contiguous", check_allreduce, dtype, "SUM", False)
        for opname in ("SUM", "MAX", "PRODUCT", "BOR"):
            if defined(dtype, opname) and not dtype.is_complex:
                run(f"reduce {name_of(dtype)} {opname}", check_reduce, dtype, opname, SIZE - 1)
                run(f"reduce_scatter {name_of(dtype)} {opname}", check_reduce_scatter, dtype, opname, False, True)
                run(f"reduce_scatter_tensor {name_of(dtype)} {opname}", check_reduce_scatter, dtype, opname, True,
                    opname != "SUM")
                run(f"all_reduce_coalesced {name_of(dtype)} {opname}", check_allreduce_coalesced, dtype, opname)
        if dtype.is_complex:
            run(f"reduce_scatter_tensor {name_of(dtype)} AVG", check_reduce_scatter, dtype, "AVG", True, True)
        run(f"broadcast {name_of(dtype)}", check_broadcast, dtype, 0, True)
        run(f"broadcast {name_of(dtype)} non-contiguous from the last rank", check_broadcast, dtype, SIZE - 1, False)
        run(f"all_gather {name_of(dtype)}", check_allgather, dtype, True)
        run(f"all_gather {name_of(dtype)} non-contiguous outputs", check_allgather, dtype, False)
        run(f"all_gather_coalesced {name_of(dtype)}", check_allgather_coalesced, dtype)
        run(f"gather and scatter {name_of(dtype)}", check_gather_scatter, dtype, SIZE - 1)
        run(f"all_to_all {name_of(dtype)}", check_alltoall, dtype)
        run(f"send and recv {name_of(dtype)}", check_send_recv, dtype)
    run("reduce root 0", check_reduce, torch.float32, "SUM", 0)
    run("gather and scatter root 0", check_gather_scatter, torch.int64, 0)
    run("PREMUL_SUM with a tensor factor, reduce_scatter", check_premul_tensor_factor)
    run("tags and recv from any source", check_tags_and_anysource)
    run("async_op=True overlaps and completes without wait()", check_async_overlaps)
    run("20 async all_reduces waited in reverse", check_many_async)
    run("subgroups by new_group", check_subgroups)
    run("sequence numbers agree and count operations", check_sequence_numbers)
    run("barrier, async barrier, monitored_barrier", check_barriers)
    run("errors name the case and leave the group usable", check_errors)
    for case in SPARSE_CASES:
        run(f"sparse all_reduce {case}", check_sparse_allreduce, case, torch.float32, case == "overlapping")
    for dtype in (torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8, torch.int16, torch.int32,
                  torch.int64, torch.bool):
        run(f"sparse all_reduce {name_of(dtype)}", check_sparse_allreduce, "overlapping", dtype, False)
    run("sparse all_reduce: results stay as they were after later calls", check_sparse_results_are_kept)
    run("sparse all_reduce: ranks that disagree get an error naming the rank", check_sparse_errors)
    run("sparse all_reduce: sparse on some ranks, dense on others fails on every rank at once",
        check_sparse_against_dense)
    run("DistributedDataParallel with a sparse embedding matches gloo", check_sparse_ddp_matches_gloo)
    run("DistributedDataParallel matches gloo", check_ddp_matches_gloo)
    for fmt in ("bf16", "int8"):
        run(f"DistributedDataParallel with the {fmt} compressed allreduce hook", check_ddp_compressed, fmt)


def failure_checks():
    # Made while every rank is alive: new_group is collective over the whole world.
    pair = dist.new_group([0, 1], backend="gloo")
    # 1. monitored_barrier names the rank that never arrives (rank 2 skips it).
    def monitored():
        pg = b_pg()
        if RANK == 0:
            expect_error(lambda: pg.monitored_barrier(datetime.timedelta(seconds=3), wait_all_ranks=True),
                         "banyan", "Rank 2 failed to pass monitoredBarrier in 3000 ms")
        elif RANK == 1:
            expect_error(lambda: pg.monitored_barrier(datetime.timedelta(seconds=6)), "banyan", "not released",
                         "Rank 1 successfully reached monitoredBarrier, but received errors while waiting for "
                         "send/recv from rank 0")
    run("monitored_barrier reports the missing rank", monitored)

    # 1b. In gloo's words, which programs and torch's own tests match on (distributed_test.py's
    # test_monitored_barrier_gloo_rank_0_timeout calls the group's method on any backend): rank 0
    # out of time before it saw anyone, and the first missing rank without wait_all_ranks. Fresh
    # groups, since a barrier only rank 0 enters leaves the ranks' barrier counts apart.
    def monitored_gloo_words():
        at_zero = dist.new_group(backend="banyan")
        first_missing = dist.new_group(backend="banyan")
        if RANK == 0:
            expect_error(lambda: at_zero.monitored_barrier(datetime.timedelta(seconds=0)), "banyan",
                         "Rank 0 timed out in monitoredBarrier after 0 ms. No ranks successfully processed")
            expect_error(lambda: first_missing.monitored_barrier(datetime.timedelta(seconds=1)), "banyan",
                         "Rank 1 failed to pass monitoredBarrier in 1000 ms")
    run("monitored_barrier: gloo's wording (rank 0 timed out, first missing rank)", monitored_gloo_words)

    # 2. A collective that a peer never joins fails by the group's timeout, as a RuntimeError.
    def timeout():
        short = dist.new_group(backend="banyan", timeout=datetime.timedelta(seconds=3))
        if RANK == 0:
            start = time.monotonic()
            work = dist.all_reduce(torch.ones(4), group=short, async_op=True)
            text = expect_error(work.wait, "banyan", "Timeout")
            took = time.monotonic() - start
            assert took < 60, f"timed out only after {took:.1f} s"
            assert "allreduce" in text, text
    run("a collective nobody joins times out with banyan's message", timeout)

    # 3. A rank that dies: the others' pending and later operations fail instead of hanging.
    def peer_dies():
        if RANK == 2:
            _state["expected_exit"] = 17
            _checks.append(("a dead peer fails the others' collectives", "ok"))
            save(True)
            os._exit(17)
        dist.barrier(group=pair)
        work = dist.all_reduce(torch.ones(1 << 16), group=G.banyan, async_op=True)
        fut = work.get_future()
        expect_error(work.wait, "banyan")
        try:
            fut.wait()
            raise AssertionError("the future of a failed operation completed")
        except RuntimeError as e:
            assert "banyan" in str(e), str(e)
        expect_error(lambda: dist.all_reduce(torch.ones(2), group=G.banyan), "banyan")
    try:
        peer_dies()
        _checks.append(("a dead peer fails the others' collectives", "ok"))
    except Exception:
        _checks.append(("a dead peer fails the others' collectives", traceback.format_exc(limit=6)))

    # 4. The survivors (ranks 0 and 1) agree, shrink the broken group and go on with the new one;
    # revoke then ends its operations on both ranks.
    def survivors_shrink():
        g = b_pg()
        assert banyan_torch.lost_ranks(g) == [2], banyan_torch.lost_ranks(g)
        flag, failed = banyan_torch.agree(6 if RANK == 0 else 3, g)
        assert (flag, failed) == (2, [2]), (flag, failed)
        new = banyan_torch.shrink(g)
        assert (new.size(), dist.get_world_size(new), dist.get_rank(new)) == (2, 2, RANK)
        assert dist.get_process_group_ranks(new) == [0, 1]
        t = torch.full((1000,), float(RANK + 1))
        dist.all_reduce(t, group=new)
        same(t, torch.full((1000,), 3.0), "all_reduce on the shrunk group")
        b = torch.tensor([float(RANK)])
        dist.broadcast(b, src=1, group=new)
        assert b.item() == 1.0, b
        dist.barrier(group=new)
        expect_error(lambda: new.monitored_barrier(datetime.timedelta(seconds=1)), "banyan", "shrink")
        try:
            banyan_torch.shrink(G.gloo)
            raise AssertionError("shrink took a gloo group")
        except ValueError as e:
            assert "not banyan" in str(e), str(e)
        if RANK == 1:
            banyan_torch.revoke(new)
        expect_error(lambda: dist.all_reduce(torch.ones(4), group=new), "banyan Aborted")
    if RANK != 2:
        try:
            survivors_shrink()
            _checks.append(("the survivors agree, shrink and go on; revoke ends the new group", "ok"))
        except Exception:
            _checks.append(("the survivors agree, shrink and go on; revoke ends the new group",
                            traceback.format_exc(limit=6)))


def exit_with_driver():
    """Ends this rank if the driver goes away (killed at its deadline), so no rank outlives
    the test run waiting on peers that are gone."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def main():
    global G
    faulthandler.enable()  # a crash prints the Python stack into the rank's log
    exit_with_driver()
    scenario = sys.argv[1]
    # The default group is banyan's; the gloo twin is made beside it.
    dist.init_process_group("banyan", timeout=datetime.timedelta(seconds=90))
    G = Groups()
    save(False)
    if scenario == "failures":
        failure_checks()
    else:
        collective_checks()
    save(True)
    if scenario != "failures":
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
