#!/usr/bin/env python3
"""The measured headline of issue 20: every row of its table, banyan beside its peer (Open MPI
or gloo) in the same run, the ratio, the aim and whether it is met; and beside them the
ceilings of the machine (one TCP stream, one-thread memcpy, fi_pingpong over ofi) with banyan's
figure as a fraction of each. Run through bench/headline.sh, which documents the environment.

How it measures (the issue's method): banyan-bench and banyan-bench-mpi with the same flags,
`-n 100 -w 10 -d f32 -o sum`, out of place, one size per run; banyan-bench binds rank r to core
r mod cores and mpirun runs `--bind-to core:overload-allowed`, so both sides are bound alike.
PASSES passes (default 3), each running every row's banyan side and peer side back to back, the
order swapped on every other pass, so that drift of the shared machine hits both alike. A row's
ratio is the median over the passes of the per-pass ratio; "best of" rows compare the best pass
of each side instead.

Ratios read so that above 1 is better for banyan on "busbw" rows (banyan / peer) and below 1 is
better on time and CPU rows (banyan / peer); the aim column says which way each one points.
"""

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

FLAGS = ["-n", "100", "-w", "10", "-d", "f32", "-o", "sum", "-c", "1"]
SIZE_RE = re.compile(r"^(\d+)([KMG]?)$")


def to_bytes(text):
    number, unit = SIZE_RE.match(text).groups()
    return int(number) << {"": 0, "K": 10, "M": 20, "G": 30}[unit]


class Runner:
    """Runs one side of one measurement and returns its JSON rows."""

    def __init__(self, build, out):
        self.bench = os.path.join(build, "tools", "banyan-bench")
        self.bench_mpi = os.path.join(build, "tools", "banyan-bench-mpi")
        self.build = build
        self.out = out
        self.count = 0

    def command(self, side, collective, np, sizes, flags, transport):
        """The argv and environment of one run: side is banyan or openmpi."""
        lo, hi = sizes
        common = [collective, "-b", lo, "-e", hi] + flags
        env = dict(os.environ)
        env.pop("BANYAN_TRANSPORT", None)
        if side == "banyan":
            if transport == "tcp":
                env["BANYAN_TRANSPORT"] = "tcp"
            elif transport.startswith("ofi:"):  # the ceilings' ofi runs, banyan alone
                env["BANYAN_TRANSPORT"] = "ofi"
                env["BANYAN_OFI_PROVIDER"] = transport[4:]
            return [self.bench] + common + ["-np", str(np)], env
        btl = "self,tcp" if transport == "tcp" else "self,vader"
        return (["mpirun", "-np", str(np), "--oversubscribe", "--bind-to", "core:overload-allowed",
                 "--mca", "btl", btl, self.bench_mpi] + common), env

    def rows(self, side, collective, np, sizes, transport="shm", flags=FLAGS):
        """Runs it; returns ({bytes: row}, CPU seconds of every process it started, user + sys)."""
        self.count += 1
        tag = transport.replace(":", "-").replace(";", "_")
        path = os.path.join(self.out, f"{self.count:03d}-{side}-{collective}-np{np}-{tag}.json")
        argv, env = self.command(side, collective, np, sizes, flags, transport)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(argv + ["-J", path], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}")
        with open(path) as f:
            rows = [r for r in json.load(f)["rows"] if not r.get("in_place") and r.get("time_us")]
        if any(r.get("wrong") for r in rows):
            raise RuntimeError(f"{' '.join(argv)}: wrong results in {path}")
        return {r["bytes"]: r for r in rows}, cpu

    def waiting_cpu(self, side, seconds=3.0):
        """CPU ticks one rank uses in `seconds` while its peer (2 ranks, 16 MiB allreduce calls
        back to back over shared memory) is stopped with SIGSTOP. Returns (ticks, ticks/s)."""
        argv, env = self.command(side, "allreduce", 2, ("16M", "16M"), ["-n", "1000000", "-w", "1", "-c", "0"],
                                 "shm")
        env["BANYAN_TIMEOUT"] = "120s"  # the stop must not end in banyan's own timeout error
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            ranks = []
            deadline = time.time() + 30
            while len(ranks) < 2 and time.time() < deadline:
                time.sleep(0.2)
                ranks = rank_pids(proc.pid)
            if len(ranks) < 2:
                raise RuntimeError(f"{side}: ranks of {' '.join(argv)} not found")
            time.sleep(2.0)  # past start-up, into the stream of calls
            os.kill(ranks[1], signal.SIGSTOP)
            time.sleep(0.5)
            t0 = cpu_ticks(ranks[0])
            time.sleep(seconds)
            ticks = cpu_ticks(ranks[0]) - t0
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return ticks, os.sysconf("SC_CLK_TCK")


def rank_pids(launcher):
    """The processes that run banyan-bench(-mpi) under `launcher`, oldest first."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")[0]
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == launcher and cmd.endswith((b"banyan-bench", b"banyan-bench-mpi")):
            found.append((int(fields[19]), int(entry)))  # start time, pid
    return [pid for _, pid in sorted(found)]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def median(values):
    return statistics.median(values) if values else float("nan")


COLLECTIVES = ["reduce_scatter", "alltoall", "broadcast", "allgather", "sendrecv", "gather", "scatter"]
SHM_SIZES = ["64K", "1M", "16M"]
MEMCPY_SIZES = ["1M", "16M"]  # 64K sits in the cache of one core: no ceiling for a copy between two
FOUR_RANK_SIZES = ("4K", "1M")
CPU_CALLS = (10, 110)  # CPU per GB from the difference: start-up and warm-up cancel out


def pair(runner, order, collective, np, lo, hi, transport="shm", factor="2", flags=FLAGS):
    """Both sides of one run, in `order`: {side: {bytes: row}}."""
    return {side: runner.rows(side, collective, np, (lo, hi), transport, ["-f", factor] + flags)[0]
            for side in order}


def one_pass(runner, order, args):
    """Every measurement once, banyan and the peer back to back in `order`. Returns
    {key: (banyan, peer)} where key names the row's cell."""
    got = {}
    for size in ("1M", "16M"):
        d = pair(runner, order, "allreduce", 2, size, size, "tcp")
        got[("tcp busbw", size)] = tuple(d[s][to_bytes(size)]["busbw"] for s in ("banyan", "openmpi"))
    for size in SHM_SIZES:
        d = pair(runner, order, "allreduce", 2, size, size)
        got[("shm busbw", size)] = tuple(d[s][to_bytes(size)]["busbw"] for s in ("banyan", "openmpi"))
    d = pair(runner, order, "allreduce", 2, "8", "8")
    got[("shm 8 B time", "8")] = tuple(d[s][8]["time_us"] for s in ("banyan", "openmpi"))
    d = pair(runner, order, "allreduce", 4, *FOUR_RANK_SIZES)
    for nbytes in sorted(d["banyan"]):
        got[("4 ranks busbw", nbytes)] = tuple(d[s][nbytes]["busbw"] for s in ("banyan", "openmpi"))
    for coll in COLLECTIVES:
        d = pair(runner, order, coll, 2, "64K", "4M", factor="64")
        for nbytes in (64 << 10, 4 << 20):
            got[(coll, nbytes)] = tuple(d[s][nbytes]["busbw"] for s in ("banyan", "openmpi"))
    cpu = {}
    for side in order:
        spent = []
        for calls in CPU_CALLS:
            flags = ["-f", "2", "-n", str(calls), "-w", "10", "-d", "f32", "-o", "sum", "-c", "0"]
            spent.append(runner.rows(side, "allreduce", 2, ("16M", "16M"), "shm", flags)[1])
        gigabytes = (CPU_CALLS[1] - CPU_CALLS[0]) * (16 << 20) / 1e9
        cpu[side] = (spent[1] - spent[0]) / gigabytes
    got[("cpu per GB", "16M")] = (cpu["banyan"], cpu["openmpi"])
    ticks = {side: runner.waiting_cpu(side) for side in order}
    got[("waiting ticks", "3 s")] = (ticks["banyan"][0], ticks["openmpi"][0])
    got["ticks per s"] = ticks["banyan"][1]
    if not args.no_torch:
        got.update(torch_pass(runner))
    got.update(ceilings(runner, order, args))
    return got


def torch_pass(runner):
    """PyTorch all_reduce on "banyan" and "gloo" in the same 2 processes (bench/torch_bench.py,
    banyan then gloo at each size): seconds per call at 1 KiB and 4 MiB."""
    env = dict(os.environ, BENCH_OPS="all_reduce", BENCH_SIZES=f"{1 << 10},{4 << 20}", BENCH_DDP_ROUNDS="0",
               PYTHONPATH=os.path.join(runner.build, "python"))
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(["/usr/bin/python3", "-m", "banyan_torch.run", "--nproc_per_node", "2",
                           os.path.join(here, "torch_bench.py")], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"torch_bench.py exited {done.returncode}:\n{done.stdout[-2000:]}")
    got = {}
    for line in done.stdout.splitlines():
        words = line.split()
        if len(words) >= 5 and words[0] == "all_reduce":
            nbytes = int(words[1]) << {"B": 0, "KiB": 10, "MiB": 20}[words[2]]
            got[("torch time", nbytes)] = (float(words[3]), float(words[4]))
    return got


def ceilings(runner, order, args):
    """What the machine itself reaches, measured in the same pass: one-thread memcpy at the shm
    rows' sizes, TCP over loopback (iperf3, one stream each way at once), and per ofi provider fi_pingpong beside banyan's sendrecv over ofi,
    16 MiB. Values in GB/s; keys ("ceiling", what)."""
    got = {}
    memcpy = os.path.join(runner.build, "tools", "memcpy-bandwidth")
    for size in MEMCPY_SIZES:
        text = subprocess.run([memcpy, size], stdout=subprocess.PIPE, text=True, check=True).stdout
        got[("ceiling", f"memcpy {size}")] = float(re.search(r"([\d.]+) GB/s", text).group(1))
    got[("ceiling", "tcp stream")] = iperf3()
    if args.no_ofi:
        return got
    for provider in ("tcp;ofi_rxm", "shm"):
        got[("ceiling", f"fi_pingpong {provider}")] = fi_pingpong(provider, 16 << 20, 20)
        flags = ["-f", "2", "-n", "20", "-w", "3", "-d", "f32", "-c", "1"]
        rows = runner.rows("banyan", "sendrecv", 2, ("16M", "16M"), f"ofi:{provider}", flags)[0]
        got[("ceiling", f"banyan ofi {provider}")] = rows[16 << 20]["busbw"]
    return got


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iperf3(seconds=3):
    """TCP over loopback as a 2-rank allreduce loads it: one stream each way at once (iperf3
    --bidir; server on core 0, client on core 1, each sending and receiving, as the two bound
    ranks do). GB/s of one direction (the mean of the two); 0 when iperf3 is missing or fails."""
    port = str(free_port())
    try:
        server = subprocess.Popen(["iperf3", "-s", "-1", "-p", port, "-A", "0"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        return 0.0
    time.sleep(0.5)
    done = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", port, "-t", str(seconds), "-A", "1", "--bidir", "-J"],
                          stdout=subprocess.PIPE, text=True, timeout=60)
    server.wait(timeout=30)
    if done.returncode != 0:
        return 0.0
    end = json.loads(done.stdout)["end"]
    both = end["sum_received"]["bits_per_second"] + end["sum_received_bidir_reverse"]["bits_per_second"]
    return both / 2 / 8 / 1e9


def fi_pingpong(provider, nbytes, iters):
    """fi_pingpong (RDM, tagged) server and client on this host: its MB/sec (bytes of both
    directions over the run's time) in GB/s; 0 when it fails."""
    port = str(free_port())
    env = dict(os.environ, FI_TCP_IFACE="lo")
    base = ["fi_pingpong", "-p", provider, "-e", "rdm", "-m", "tagged", "-S", str(nbytes), "-I", str(iters)]
    try:
        server = subprocess.Popen(base + ["-B", port], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        return 0.0
    time.sleep(0.5)
    done = subprocess.run(base + ["-P", port, "127.0.0.1"], env=env, stdout=subprocess.PIPE, text=True, timeout=60)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) < 2:
        return 0.0
    return float(lines[1].split()[5]) / 1e3


# The table. Each row: (label, aim text, test of the aim on the row's value, how the
# value is formed from the passes). "higher" rows are banyan / peer of something where more is
# better (busbw); "lower" rows are banyan / peer where less is better (time, CPU).
def ratios(passes, key, invert=False):
    """The per-pass ratios banyan / peer (peer / banyan with invert) of one cell."""
    out = []
    for got in passes:
        if key in got and got[key][0 if invert else 1] > 0:  # banyan may be 0 (waiting ticks)
            a, b = got[key]
            out.append(b / a if invert else a / b)
    return out


def cell(passes, key, invert=False):
    """(median banyan, median peer, median per-pass ratio) of one cell."""
    vals = [got[key] for got in passes if key in got]
    return (median([v[0] for v in vals]), median([v[1] for v in vals]), median(ratios(passes, key, invert)))


def table(passes):
    """Yields (measure, banyan, peer, ratio, aim, met) rows of the headline."""
    def row(label, unit, key, aim, ok, invert=False, fmt="{:.2f}"):
        b, p, r = cell(passes, key, invert)
        return (label, f"{fmt.format(b)} {unit}", f"{fmt.format(p)} {unit}", f"{r:.2f}", aim, ok(r))

    for size in ("1M", "16M"):
        yield row(f"TCP allreduce busbw, 2 ranks, {size}, vs Open MPI self,tcp", "GB/s", ("tcp busbw", size),
                  ">= 1.5", lambda r: r >= 1.5)
    for size in SHM_SIZES:
        yield row(f"shm allreduce busbw, 2 ranks, {size}, vs vader", "GB/s", ("shm busbw", size), ">= 2",
                  lambda r: r >= 2)
    # Latency: the best pass of each side (the "best of 3"), banyan's time / vader's.
    key = ("shm 8 B time", "8")
    best = [min(v[i] for v in (got[key] for got in passes)) for i in (0, 1)]
    yield ("shm 8 B allreduce latency, 2 ranks, vs vader (best pass; time ratio)", f"{best[0]:.2f} us",
           f"{best[1]:.2f} us", f"{best[0] / best[1]:.2f}", "<= 1.0", best[0] / best[1] <= 1.0)
    sizes = sorted(k[1] for k in passes[0] if isinstance(k, tuple) and k[0] == "4 ranks busbw")
    worst = min(sizes, key=lambda n: cell(passes, ("4 ranks busbw", n))[2])
    yield row(f"4 ranks on 2 cores, allreduce 4K-1M, vs vader: worst size ({worst >> 10}K)", "GB/s",
              ("4 ranks busbw", worst), "keep >= 2", lambda r: r >= 2)
    for coll in COLLECTIVES:
        worst = min((64 << 10, 4 << 20), key=lambda n: cell(passes, (coll, n))[2])
        size = f"{worst >> 10}K" if worst < (1 << 20) else f"{worst >> 20}M"
        yield row(f"{coll}, 2 ranks shm vs vader, worst of 64K/4M ({size})", "GB/s", (coll, worst), ">= 1.0",
                  lambda r: r >= 1.0)
    yield row("CPU s (user+sys, all ranks) per GB allreduced, 2 ranks 16M, vs vader", "s/GB",
              ("cpu per GB", "16M"), "<= 0.5", lambda r: r <= 0.5, fmt="{:.3f}")
    hz = passes[0]["ticks per s"]
    yield row(f"CPU of a rank waiting 3 s for a stopped peer (ticks of {hz}/s), vs Open MPI vader", "ticks",
              ("waiting ticks", "3 s"), "keep <= 0.05", lambda r: r <= 0.05, fmt="{:.0f}")
    if ("torch time", 4 << 20) in passes[0]:
        yield row("PyTorch all_reduce 4 MiB, 2 ranks, vs gloo (bandwidth = gloo time / banyan time)", "us",
                  ("torch time", 4 << 20), "keep >= 5.2 (6.5 - 20%)", lambda r: r >= 5.2, invert=True,
                  fmt="{:.0f}")
        yield row("PyTorch all_reduce 1 KiB latency, 2 ranks, vs gloo (banyan time / gloo time)", "us",
                  ("torch time", 1 << 10), "keep <= 0.055 (0.046 + 20%)", lambda r: r <= 0.055, fmt="{:.1f}")


def ceiling_rows(passes):
    """Yields (what, banyan GB/s, ceiling GB/s, fraction) for banyan's large-message figures
    against what the machine reaches at the same size."""
    def med(key, index=None):
        vals = [got[key] if index is None else got[key][index] for got in passes if key in got]
        return median(vals)

    # A 2-rank allreduce sends its size each way at once through the kernel's loopback: the
    # rate of one direction of a two-way iperf3 is its busbw ceiling.
    pairs = [("TCP allreduce 16M busbw / one direction of two TCP streams, one each way (iperf3 --bidir)",
              med(("tcp busbw", "16M"), 0), med(("ceiling", "tcp stream")))]
    for size in MEMCPY_SIZES:
        pairs.append((f"shm allreduce {size} busbw / one-thread memcpy {size}", med(("shm busbw", size), 0),
                      med(("ceiling", f"memcpy {size}"))))
    for provider in ("tcp;ofi_rxm", "shm"):
        key = ("ceiling", f"banyan ofi {provider}")
        if key in passes[0]:
            pairs.append((f"ofi {provider}: banyan sendrecv 16M busbw / fi_pingpong 16M", med(key),
                          med(("ceiling", f"fi_pingpong {provider}"))))
    for what, ours, ceiling in pairs:
        yield what, ours, ceiling, (ours / ceiling if ceiling > 0 else float("nan"))


def report(passes, out):
    lines = ["| measure | banyan | peer | ratio | aim | met |", "|---|---|---|---|---|---|"]
    for measure, ours, theirs, ratio, aim, met in table(passes):
        lines.append(f"| {measure} | {ours} | {theirs} | {ratio} | {aim} | {'met' if met else 'NOT met'} |")
    lines += ["", "| ceiling | banyan GB/s | ceiling GB/s | fraction |", "|---|---|---|---|"]
    for what, ours, ceiling, fraction in ceiling_rows(passes):
        lines.append(f"| {what} | {ours:.2f} | {ceiling:.2f} | {fraction:.2f} |")
    text = "\n".join(lines)
    with open(os.path.join(out, "headline.md"), "w") as f:
        f.write(text + "\n")
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build")
    parser.add_argument("--out", required=True)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true", help="leave out the PyTorch rows")
    parser.add_argument("--no-ofi", action="store_true", help="leave out the ofi ceilings")
    parser.add_argument("--report-only", action="store_true", help="the table again from OUT/passes.json")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    store = os.path.join(args.out, "passes.json")
    if args.report_only:
        with open(store) as f:
            passes = [decode(p) for p in json.load(f)]
    else:
        if os.environ.get("OMPI_ALLOW_RUN_AS_ROOT") is None and os.getuid() == 0:
            os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        runner = Runner(args.build, args.out)
        passes = []
        for n in range(args.passes):
            order = ("banyan", "openmpi") if n % 2 == 0 else ("openmpi", "banyan")
            start = time.time()
            print(f"headline: pass {n + 1} of {args.passes} ({order[0]} first), load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
            passes.append(one_pass(runner, order, args))
            print(f"headline: pass {n + 1} took {time.time() - start:.0f} s", flush=True)
            with open(store, "w") as f:
                json.dump([encode(p) for p in passes], f)
    print(report(passes, args.out))
    return 0


def encode(got):
    return [[list(k) if isinstance(k, tuple) else k, v] for k, v in got.items()]


def decode(items):
    return {tuple(k) if isinstance(k, list) else k: tuple(v) if isinstance(v, list) else v for k, v in items}


if __name__ == "__main__":
    sys.exit(main())
