#!/usr/bin/env python3
"""Where a profile's CPU time goes, by kind of work: reads `perf script` output (samples with
call chains, from `perf record -g`) and prints each category's share of the samples. A sample
is put in the first category whose rule matches its stack, leaf first: page faults (first touch
of memory) before anything else, then the leaf's kind. Used by bench/breakdown.sh.

    perf script -i long.data > long.txt; perf script -i short.data > short.txt
    bench/profile_split.py long.txt [short.txt]

With a second profile (the same job with fewer calls), its counts are subtracted category by
category: start-up (buffers touched, connections made) cancels out and the steady state remains.

Categories: copy in the kernel (socket payload into and out of user memory, process_vm_*'s
copy), the rest of process_vm_readv/writev (CMA: looking up and pinning the peer's pages),
reduction (banyan's reduce kernels), user-space copies (memcpy/memmove), memset, page faults,
TCP/IP stack and loopback (the rest of sendmsg/recvmsg and the softirq), waiting and wake-ups
(epoll, futex, poll, the scheduler, nanosleep), banyan's own code (driver, executor,
transports), the benchmark's own code and anything else.
"""

import sys

RULES = [
    ("page faults (first touch)", lambda st: any("page_fault" in f for f in st)),
    ("copy in the kernel", lambda st: st[0].startswith(("_copy_to_iter", "_copy_from_iter", "copy_user", "copyout",
                                                       "copyin", "rep_movs", "copy_page"))),
    ("CMA: process_vm_readv/writev besides the copy (page lookup, pinning)",
     lambda st: any("process_vm_" in f for f in st)),
    ("reduction (banyan reduce kernels)", lambda st: "banyan::reduce" in st[0]),
    ("memcpy/memmove in user space", lambda st: "memmove" in st[0] or "memcpy" in st[0]),
    ("memset", lambda st: "memset" in st[0]),
    ("waiting and wake-ups (epoll, futex, poll, scheduler, sleep)",
     lambda st: any(k in f for f in st[:12] for k in ("epoll", "futex", "schedule", "nanosleep", "do_poll", "poll_",
                                                     "sched_yield", "__x64_sys_poll", "__poll", "ppoll"))),
    ("TCP/IP stack, loopback, syscall entry", lambda st: any(k in f for f in st for k in (
        "sendmsg", "recvmsg", "tcp_", "skb", "net_rx", "ip_", "__libc_send", "__libc_recv", "do_softirq", "readv",
        "writev", "sock_"))),
    ("MPI progress polling (opal_progress, btl/pml)", lambda st: any(k in f for f in st[:3] for k in (
        "opal_", "mca_", "ompi_", "libopen-pal", "libmpi"))),
    ("banyan (driver, executor, transports)", lambda st: any("banyan::" in f and "bench" not in f for f in st[:3])),
    ("benchmark tool (fill, check)", lambda st: any("banyan::bench" in f for f in st[:3])),
]


def samples(lines):
    stack = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
        elif line.startswith(("\t", " ")):
            parts = line.split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else "?")  # symbol+offset (dso)
        else:
            stack = []
    if stack:
        yield stack


def split(path):
    counts = {name: 0 for name, _ in RULES}
    counts["other"] = 0
    with open(path, errors="replace") as f:
        for stack in samples(f):
            counts[next((n for n, rule in RULES if rule(stack)), "other")] += 1
    return counts


def main():
    counts = split(sys.argv[1])
    if len(sys.argv) > 2:
        base = split(sys.argv[2])
        counts = {k: max(0, v - base[k]) for k, v in counts.items()}
    total = sum(counts.values())
    if not total:
        print("profile_split: no samples with call chains (record with perf record -g)")
        return 1
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if n:
            print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"  ({total} samples{' after subtracting the short run' if len(sys.argv) > 2 else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
