"""One rank of bench/torch.sh: torch.distributed collectives on "banyan" and on "gloo" in the
same processes, same tensors, same run; then a sparse all_reduce of an embedding-like gradient
(issue 23) and one DistributedDataParallel training step on each.

Sizes follow nccl-tests: all_reduce moves a tensor of `size` bytes; all_gather_into_tensor
fills an output of `size` bytes (each rank sends size / n); reduce_scatter_tensor reduces an
input of `size` bytes (each rank keeps size / n). gloo in torch 1.13 has neither
all_gather_into_tensor nor reduce_scatter_tensor, so its column there is what a gloo user runs
instead: all_gather into a list of tensors, and all_reduce of the whole input (then a slice).

Time is one call's share of a round of back-to-back calls (as nccl-tests measures), the
median of 5 rounds of the slowest rank; algbw = size / time. ratio = gloo time / banyan time
(above 1: banyan faster), except for the sparse all_reduce line, which prints banyan / gloo
time (below 1: banyan faster) as issue 23 asks. The machine's load average is printed: on a shared 2-core VM the
figures move a lot between runs, the ratio (both measured in the same minute) less so.
"""

import datetime
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist

import banyan_torch  # noqa: F401

# 1 KiB, 4 KiB, ... 64 MiB; BENCH_SIZES="1024,4194304" (bytes) measures only those (bench/headline.py)
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "").split(",") if s] or [1 << k for k in range(10, 27, 2)]


def timed(fn, group, rounds=5):
    """Seconds per call: `rounds` rounds of back-to-back calls (as nccl-tests times them), each
    round about 0.3 s and at least 3 calls; the median round of the slowest rank."""
    fn()
    dist.barrier(group=group)
    start = time.perf_counter()
    fn()
    one = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
    # Every rank must make the same number of calls: agree on the slowest rank's estimate.
    dist.all_reduce(one, op=dist.ReduceOp.MAX, group=group)
    calls = max(3, min(500, int(0.3 / max(one.item(), 1e-6))))
    for _ in range(max(2, calls // 10)):
        fn()
    per_call = []
    for _ in range(rounds):
        dist.barrier(group=group)
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - t) / calls)
    s = torch.tensor(per_call, dtype=torch.float64)
    dist.all_reduce(s, op=dist.ReduceOp.MAX, group=group)
    return statistics.median(s.tolist())


def collectives(name, group, size, world, backend):
    n = size // 4
    if name == "all_reduce":
        x = torch.ones(n)
        return lambda: dist.all_reduce(x, group=group)
    if name == "all_gather_into_tensor":
        x = torch.ones(n // world)
        out = torch.empty(n)
        if backend == "gloo":
            outs = list(out.split(n // world))
            return lambda: dist.all_gather(outs, x, group=group)
        return lambda: dist.all_gather_into_tensor(out, x, group=group)
    if name == "reduce_scatter_tensor":
        x = torch.ones(n)
        out = torch.empty(n // world)
        if backend == "gloo":
            def gloo_rs():
                y = x.clone()
                dist.all_reduce(y, group=group)
                out.copy_(y[:n // world])
            return gloo_rs
        return lambda: dist.reduce_scatter_tensor(out, x, group=group)
    raise ValueError(name)


def human(size):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size // scale} {unit}"
    return f"{size} B"


def ddp_step_time(group, steps=5):
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.manual_seed(0)
    # ~8.4 M parameters (34 MB of gradients): communication is a visible share of a step.
    model = torch.nn.Sequential(torch.nn.Linear(1024, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 2048),
                                torch.nn.ReLU(), torch.nn.Linear(2048, 1024))
    ddp = DDP(model, process_group=group)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01)
    x, y = torch.randn(8, 1024), torch.randn(8, 1024)

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()

    step()
    times = []
    for _ in range(steps):
        dist.barrier(group=group)
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    s = torch.tensor(times, dtype=torch.float64)
    dist.all_reduce(s, op=dist.ReduceOp.MAX, group=group)
    return statistics.median(s.tolist())


def sparse_allreduce_times(groups, rank, passes=7, calls=5):
    """The embedding-bag-like sparse gradient of issue 23: a 1M x 64 f32 table of which each
    rank touches 1% of the rows (random, seeded, different per rank), all_reduced as a sparse
    COO tensor. `passes` alternating passes of `calls` calls on each backend; seconds per call
    of the slowest rank, the median pass. all_reduce replaces its input, so each call reduces a
    fresh clone (the same clone on both backends)."""
    rows, dim, touched = 1_000_000, 64, 10_000
    g = torch.Generator().manual_seed(2300 + rank)
    index = torch.randperm(rows, generator=g)[:touched].unsqueeze(0)
    grad = torch.sparse_coo_tensor(index, torch.randn(touched, dim, generator=g), (rows, dim))
    times = {"banyan": [], "gloo": []}
    for backend in times:  # warm-up: connections, allocator
        dist.all_reduce(grad.clone(), group=groups[backend])
    for _ in range(passes):
        for backend, group in groups.items():
            dist.barrier(group=group)
            t = time.perf_counter()
            for _ in range(calls):
                dist.all_reduce(grad.clone(), group=group)
            s = torch.tensor([(time.perf_counter() - t) / calls], dtype=torch.float64)
            dist.all_reduce(s, op=dist.ReduceOp.MAX, group=group)
            times[backend].append(s.item())
    return {backend: statistics.median(v) for backend, v in times.items()}


def main():
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=600))
    rank, world = dist.get_rank(), dist.get_world_size()
    groups = {"banyan": dist.new_group(backend="banyan"), "gloo": dist.group.WORLD}
    only = os.environ.get("BENCH_OPS", "all_reduce,all_gather_into_tensor,reduce_scatter_tensor,sparse_all_reduce")
    only = only.split(",")
    if rank == 0:
        print(f"# {world} ranks, f32, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}; "
              f"time = one call, median of 5 rounds (slowest rank)")
        print(f"# {'collective':<24}{'size':>10}{'banyan us':>12}{'gloo us':>12}{'banyan GB/s':>13}"
              f"{'gloo GB/s':>11}{'ratio':>8}")
    for name in (n for n in only if n and n != "sparse_all_reduce"):
        for size in SIZES:
            t = {}
            for backend in ("banyan", "gloo"):  # alternate per size: both see the same machine load
                t[backend] = timed(collectives(name, groups[backend], size, world, backend), groups[backend])
            if rank == 0:
                print(f"  {name:<24}{human(size):>10}{t['banyan'] * 1e6:>12.1f}{t['gloo'] * 1e6:>12.1f}"
                      f"{size / t['banyan'] / 1e9:>13.3f}{size / t['gloo'] / 1e9:>11.3f}"
                      f"{t['gloo'] / t['banyan']:>8.2f}", flush=True)
    if "sparse_all_reduce" in only:
        t = sparse_allreduce_times(groups, rank)
        if rank == 0:
            print(f"# load average {os.getloadavg()[0]:.1f}")
            print(f"  sparse all_reduce (1M x 64 f32, 1% rows per rank, {world} ranks): banyan "
                  f"{t['banyan'] * 1e3:.1f} ms, gloo {t['gloo'] * 1e3:.1f} ms, "
                  f"banyan/gloo time {t['banyan'] / t['gloo']:.2f}", flush=True)
    # Alternated, several times: a step is mostly computation, which the machine's load moves.
    b_runs, g_runs = [], []
    for _ in range(int(os.environ.get("BENCH_DDP_ROUNDS", "3"))):
        b_runs.append(ddp_step_time(groups["banyan"]))
        g_runs.append(ddp_step_time(groups["gloo"]))
    if b_runs and rank == 0:
        b, g = statistics.median(b_runs), statistics.median(g_runs)
        print(f"# load average {os.getloadavg()[0]:.1f}")
        print(f"  DDP step (8.4 M params, batch 8): banyan {b * 1e3:.1f} ms, gloo {g * 1e3:.1f} ms, "
              f"ratio {g / b:.2f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
