"""What torch subgroups cost: a 4-rank job whose world group is BACKEND creates 8 new_groups
(the world again, two halves, four pairs, a reversed copy) with one all_reduce in each, and
each rank reports the sockets, file descriptors and threads it gained, the shared memory resident in
it, and how much the host's shared memory (Shmem in /proc/meminfo) grew; banyan and gloo in the
same run (issue 23).

    PYTHONPATH=build/python /usr/bin/python3 bench/torch_groups.py [--backends banyan gloo]

Launches its own ranks (one process each, the torch store in rank 0) on loopback. Before the
groups, an all_to_all over the world connects every pair. BANYAN_* variables pass to the ranks
(BANYAN_TRANSPORT=tcp: the ranks talk as between hosts; BANYAN_SHARE_CONNECTIONS=0: groups open
their own connections); the row names the ones set.
"""

import argparse
import datetime
import os
import socket
import subprocess
import sys
import time

GROUPS_OF_4 = [[0, 1, 2, 3], [0, 1], [2, 3], [0, 1], [2, 3], [1, 2], [3, 0], [3, 2, 1, 0]]


def fds():
    kinds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":")[0] if ":" in target else "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def tcp_connections():
    """Established TCP connections of this process (its sockets found in /proc/net/tcp{,6})."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "01" and fields[9] in mine:
                    count += 1
    return count


def threads():
    return len(os.listdir("/proc/self/task"))


def shared_memory():
    """(bytes of /dev/shm mappings resident in this process, the host's Shmem in bytes)."""
    resident, counting = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(" ", 1)[0]
            if "-" in first and all(c in "0123456789abcdef-" for c in first):
                counting = "/dev/shm" in line
            elif counting and line.startswith("Rss:"):
                resident += int(line.split()[1]) * 1024
    with open("/proc/meminfo") as meminfo:
        host = next(int(l.split()[1]) * 1024 for l in meminfo if l.startswith("Shmem:"))
    return resident, host


def rank_main(backend):
    import torch
    import torch.distributed as dist

    if backend == "banyan":
        import banyan_torch  # noqa: F401  registers the backend

    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group(backend, rank=rank, world_size=size, timeout=datetime.timedelta(seconds=120))
    warm = torch.ones(1024)
    dist.all_reduce(warm)
    dist.all_to_all_single(torch.zeros(4), torch.arange(4, dtype=torch.float32))
    dist.barrier()
    fds_before, (resident_before, host_before), threads_before = fds(), shared_memory(), threads()
    tcp_before = tcp_connections()
    dist.barrier()
    start = time.perf_counter()
    groups = [dist.new_group(ranks, backend=backend) for ranks in GROUPS_OF_4]
    created = time.perf_counter() - start
    for ranks, group in zip(GROUPS_OF_4, groups):
        if rank in ranks:
            x = torch.ones(1024)
            dist.all_reduce(x, group=group)
            if x[0].item() != len(ranks):
                raise SystemExit(f"rank {rank}: all_reduce on {ranks} gave {x[0].item()}")
    dist.barrier()
    fds_after, (resident_after, host_after), threads_after = fds(), shared_memory(), threads()
    tcp_after = tcp_connections()
    dist.barrier()
    print(f"RESULT {backend} {rank} {fds_after.get('socket', 0) - fds_before.get('socket', 0)} "
          f"{sum(fds_after.values()) - sum(fds_before.values())} {resident_after - resident_before} "
          f"{host_after - host_before} {created:.3f} {threads_after - threads_before} {tcp_after - tcp_before}",
          flush=True)
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(backend):
    port = free_port()
    procs = []
    for rank in range(4):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="4", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, __file__, "--rank-of", backend], env=env,
                                      stdout=subprocess.PIPE, text=True))
    rows = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"torch_groups.py: a {backend} rank failed ({proc.returncode})")
        rows += [line.split()[2:] for line in out.splitlines() if line.startswith("RESULT ")]
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["banyan", "gloo"])
    parser.add_argument("--rank-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_of:
        rank_main(args.rank_of)
        return
    print("| backend | TCP connections added | sockets added (4 ranks) | fds added | threads added | "
          "shm resident added per rank | host shared memory added | creating the 8 groups |")
    print("|---|---|---|---|---|---|---|---|")
    settings = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BANYAN_"))
    for backend in args.backends:
        rows = run(backend)
        sockets = sum(int(r[1]) for r in rows)
        descriptors = sum(int(r[2]) for r in rows)
        resident = max(int(r[3]) for r in rows)
        host = int(rows[0][4])
        created = max(float(r[5]) for r in rows)
        added_threads = sum(int(r[6]) for r in rows)
        connections = sum(int(r[7]) for r in rows) // 2  # each is counted at both of its ends
        label = f"{backend} ({settings})" if backend == "banyan" and settings else backend
        print(f"| {label} | {connections} | {sockets} | {descriptors} | {added_threads} | "
              f"{resident / 1024:.0f} KiB (max) | {host / 1024:.0f} KiB | {created:.2f} s |", flush=True)


if __name__ == "__main__":
    main()
