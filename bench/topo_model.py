#!/usr/bin/env python3
"""Where the cost model is wrong: for each layout, collective, algorithm and size, the measured
time (bench/topo.sh's tables, median of the rounds) over the cost model's prediction
(banyan-topo --predictions on the topology the same job probed), the fastest measured
algorithm, and the one the selector picks from these predictions (its pipelined preference
included) with its measured time over the fastest's.

    bench/topo_model.py OUT    (OUT holds LAYOUT_COLLECTIVE.tsv and LAYOUT.predictions)

A ratio of 1 means the model is right; what matters for the choice is that the ratios of the
algorithms at one size agree (a model that is 3x slow for every algorithm still picks well).
"""

import glob
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from topo_results import choose_bytes, human, read  # noqa: E402

PIPELINED = {"ring", "hierarchical", "double-tree", "chain"}


def ranks_of(layout):
    hosts, per = layout.split("x")
    return int(hosts) * int(per)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    predicted = defaultdict(dict)  # (layout, collective, choose bytes) -> algorithm -> us
    for path in glob.glob(os.path.join(out, "*.predictions")):
        layout = os.path.basename(path)[: -len(".predictions")]
        for line in open(path):
            if line.startswith("#") or not line.strip():
                continue
            collective, size, algorithm, us = line.split()
            predicted[(layout, collective, int(size))][algorithm] = float(us)
    table, _, _ = read(sorted(glob.glob(os.path.join(out, "*.tsv"))))
    for (layout, collective), by_name in sorted(table.items()):
        n = ranks_of(layout)
        for size in sorted(set().union(*[set(v) for v in by_name.values()])):
            key = (layout, collective, choose_bytes(collective, size, n))
            if key not in predicted:
                continue
            m = {a: rows[size].median_us for a, rows in by_name.items() if not a.startswith("auto") and size in rows}
            p = predicted[key]
            both = sorted(a for a in m if a in p)
            if not both:
                continue
            best_m = min(both, key=lambda a: m[a])
            best_p = min(both, key=lambda a: p[a])
            # The selector's rule on top of the prices (src/tuning/selector.hpp): from 64 KiB
            # moved, across hosts, a pipelined schedule within 10% of a cheaper whole-message
            # one is taken.
            moved = key[2] * n if collective in ("allgather", "reduce_scatter") else key[2]
            if best_p not in PIPELINED and moved >= 64 * 1024 and not layout.startswith("1x"):
                pipes = sorted((a for a in both if a in PIPELINED), key=lambda a: p[a])
                if pipes and p[pipes[0]] <= p[best_p] * 1.10:
                    best_p = pipes[0]
            cells = " ".join(f"{a}={m[a] / p[a]:.2f}" for a in both)
            loss = m[best_p] / m[best_m]
            print(f"{layout} {collective:14} {human(size):>8}: measured/predicted {cells}; "
                  f"best measured {best_m}, model picks {best_p} ({loss:.2f}x the best time)")


if __name__ == "__main__":
    main()
