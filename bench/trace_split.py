#!/usr/bin/env python3
"""Where an operation's time goes, from BANYAN_TRACE files (docs/observability.md): for the
operations of the given size on each rank, the median share of the operation's time covered by
receives, by sends, by local reduce and copy steps, by reduce while a transfer was in flight
(the overlap of reduction with transfer), and by none of them (the driver between steps). Used
by bench/breakdown.sh.

    bench/trace_split.py BYTES trace-0.json trace-1.json ...

A transfer's span runs from its posting (or the previous transfer's end on that track) to its
completion, so "receive" includes the wait for the peer's data, not only the copy.
"""

import json
import statistics
import sys


def union(spans):
    """Merged [start, end) intervals."""
    out = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def covered(intervals, lo, hi):
    return sum(max(0.0, min(e, hi) - max(s, lo)) for s, e in intervals)


def intersect(a, b):
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append([s, e])
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def split(path, nbytes):
    with open(path) as f:
        text = f.read().rstrip().rstrip(",")
    events = json.loads(text if text.endswith("]") else text + "]")
    spans = {"recv": [], "send": [], "reduce": [], "copy": []}
    ops = {}
    for e in events:
        if e.get("ph") != "X":
            continue
        span = (e["ts"], e["ts"] + e["dur"])
        if e.get("cat") == "operation":
            ops.setdefault(e["args"].get("bytes"), []).append(span)
        elif e.get("cat") in spans:
            spans[e["cat"]].append(span)
    # Some collectives record another byte count than the benchmark's size (alltoall: one
    # block): then the operations of the size that occurs most often are the benchmark's.
    ops = ops.get(nbytes) or max(ops.values(), key=len, default=[])
    merged = {k: union(v) for k, v in spans.items()}
    transfer = union(spans["recv"] + spans["send"])
    busy = union(spans["recv"] + spans["send"] + spans["reduce"] + spans["copy"])
    overlap = intersect(merged["reduce"], transfer)
    rows = []
    for lo, hi in ops:
        d = hi - lo
        rows.append({"us": d, "recv": covered(merged["recv"], lo, hi) / d, "send": covered(merged["send"], lo, hi) / d,
                     "reduce": covered(merged["reduce"], lo, hi) / d, "copy": covered(merged["copy"], lo, hi) / d,
                     "reduce during transfer": covered(overlap, lo, hi) / d,
                     "none of them": 1 - covered(busy, lo, hi) / d})
    return rows


def main():
    nbytes = int(sys.argv[1])
    for path in sys.argv[2:]:
        rows = split(path, nbytes)
        if not rows:
            print(f"  {path}: no operation")
            continue
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in med.items() if k != "us")
        print(f"  {path}: {len(rows)} ops, median {med['us']:.0f} us; share of the op: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
