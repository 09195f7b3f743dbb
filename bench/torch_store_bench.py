"""PyTorch's TCPStore under the load banyan-store-bench makes (bench/store_scale.sh, the peer).

    /usr/bin/python3 bench/torch_store_bench.py [--clients 64,256,1024] [--pairs K] [--timeout-s S]

The same three phases as tools/store_bench/store_load.hpp, with the same keys and values: every
client a torch.distributed.TCPStore on a thread of its own (the store calls release the GIL),
the server a master TCPStore in a child process started afresh for each client count, whose
peak threads and descriptors are sampled from /proc. Prints the same markdown table row as
banyan-store-bench; exits 1 when a client failed or read a wrong value, 2 on bad input.
"""

import argparse
import datetime
import os
import subprocess
import sys
import threading
import time

MAX_CLIENTS = 8192
CLIENT_STACK_BYTES = 256 * 1024


def entry_of(rank, port):
    # The shape of what exchangeHosts publishes: identity, pid, control address, share.
    return f"bench-host-{rank % 97}\n{100000 + rank}\n127.0.0.1:{20000 + (rank + port) % 40000}\ntcp"


def combined_of(clients, port):
    return "".join(f"{len(e)}:{e}" for e in (entry_of(r, port) for r in range(clients)))


def serve():
    """The --serve child: a master TCPStore on a free port, until stdin closes."""
    import torch.distributed as dist

    server = dist.TCPStore("127.0.0.1", 0, None, True, timeout=datetime.timedelta(seconds=3600),
                           wait_for_workers=False)
    print(server.port, flush=True)
    sys.stdin.read()


def count_entries(pid, what):
    try:
        return len(os.listdir(f"/proc/{pid}/{what}"))
    except OSError:
        return -1


def cpu_ms(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return -1.0


def percentile(values, fraction):
    if not values:
        return 0.0
    values.sort()
    return values[int(fraction * (len(values) - 1))]


def run(clients, pairs, timeout_s):
    import torch.distributed as dist

    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    # The server's own cost from here on: importing torch alone takes about a CPU second.
    cpu_at_start = cpu_ms(server.pid)
    peak = {"threads": -1, "fds": -1}
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            peak["threads"] = max(peak["threads"], count_entries(server.pid, "task"))
            peak["fds"] = max(peak["fds"], count_entries(server.pid, "fd"))
            time.sleep(0.05)  # as banyan-store-bench: a listing of thousands of fds is not free

    sampler = threading.Thread(target=sample)
    sampler.start()

    prefix = f"store-bench/{os.getpid()}/{clients}/"
    combined = combined_of(clients, port).encode()
    timeout = datetime.timedelta(seconds=timeout_s)
    starts = []
    ends = [[0.0] * 3 for _ in range(clients)]
    latencies = [[] for _ in range(clients)]
    counts = {"connections": 0, "requests": 0, "wrong": 0}
    errors = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1, action=lambda: starts.append(time.perf_counter()),
                                timeout=timeout_s + 60)

    def note(kind, text):
        with lock:
            counts[kind] += 1
            if not errors:
                errors.append(text)

    def creation(store, rank):
        if rank == 0:
            for other in range(1, clients):
                if store.get(f"{prefix}host/{other}") != entry_of(other, port).encode():
                    note("wrong", f"client 0 read a wrong value for host/{other}")
            store.set(prefix + "hosts", combined)
            return
        store.set(f"{prefix}host/{rank}", entry_of(rank, port).encode())
        if store.get(prefix + "hosts") != combined:
            note("wrong", f"client {rank} read a wrong combined value")

    def requests(store, rank):
        key = f"{prefix}pair/{rank}"
        mine = latencies[rank]
        for i in range(pairs):
            value = f"{rank * 1000003 + i:064d}".encode()
            t0 = time.perf_counter()
            store.set(key, value)
            t1 = time.perf_counter()
            right = store.get(key) == value
            t2 = time.perf_counter()
            mine.append((t1 - t0) * 1e6)
            mine.append((t2 - t1) * 1e6)
            if not right:
                note("wrong", f"client {rank} read back a wrong value")

    def client(rank):
        store = None
        barrier.wait()
        try:
            store = dist.TCPStore("127.0.0.1", port, None, False, timeout=timeout, wait_for_workers=False)
            store.add(prefix + "connect", 1)
        except Exception as e:  # refused, reset, timed out: counted, not raised
            store = None
            note("connections", f"client {rank} could not connect: {e}")
        ends[rank][0] = time.perf_counter()
        for phase, body in ((1, creation), (2, requests)):
            barrier.wait()
            if store is not None:
                try:
                    body(store, rank)
                except Exception as e:
                    note("requests", f"client {rank}: {e}")
            ends[rank][phase] = time.perf_counter()
        barrier.wait()
        # Let go of the connections before the server is stopped.
        del store

    threading.stack_size(CLIENT_STACK_BYTES)
    threads = [threading.Thread(target=client, args=(rank,)) for rank in range(clients)]
    try:
        for t in threads:
            t.start()
        for _ in range(4):
            barrier.wait()
        for t in threads:
            t.join()
    finally:
        server_cpu = cpu_ms(server.pid) - cpu_at_start
        sampling.set()
        sampler.join()
        server.stdin.close()
        server.wait(timeout=60)

    def phase_ms(phase):
        return (max(max(e[phase] for e in ends), starts[phase]) - starts[phase]) * 1e3

    all_latencies = [x for each in latencies for x in each]
    requests_ms = phase_ms(2)
    per_second = len(all_latencies) / (requests_ms / 1e3) if requests_ms > 0 else 0
    print(f"| {clients} | {phase_ms(0):.1f} | {phase_ms(1):.1f} | {per_second:.0f} | "
          f"{percentile(all_latencies, 0.5):.0f} | {percentile(all_latencies, 0.99):.0f} | "
          f"{counts['connections']} | {counts['requests']} | {counts['wrong']} | {peak['threads']} | {peak['fds']} | {server_cpu:.0f} |",
          flush=True)
    if errors:
        print(f"torch_store_bench: {clients} clients: first failure: {errors[0]}", file=sys.stderr)
        return False
    return True


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--serve":
        serve()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="64,256,1024")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--timeout-s", type=int, default=120)
    args = parser.parse_args()
    try:
        counts = [int(c) for c in args.clients.split(",")]
    except ValueError:
        counts = []
    if not counts or any(c < 1 or c > MAX_CLIENTS for c in counts):
        print(f"torch_store_bench: --clients: '{args.clients}' is not a list of client counts of 1..{MAX_CLIENTS}",
              file=sys.stderr)
        return 2
    if not 1 <= args.pairs <= 100000 or not 1 <= args.timeout_s <= 3600:
        print("torch_store_bench: --pairs is 1..100000, --timeout-s 1..3600", file=sys.stderr)
        return 2
    print("| clients | connect (ms) | creation (ms) | requests/s | p50 (us) | p99 (us) | failed connections | "
          "failed requests | wrong values | server threads | server fds | server CPU (ms) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|",
          flush=True)
    clean = True
    for clients in counts:
        clean = run(clients, args.pairs, args.timeout_s) and clean
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
