#!/usr/bin/env python3
"""Where the cost model is wrong: for each layout, collective, algorithm and size, the measured
time (bench/topo.sh's JSON, out-of-place) over the cost model's prediction (banyan-topo
--predictions on the same layout), the fastest measured algorithm, and the one the selector
picks from these predictions (its pipelined preference included) with its measured time over
the fastest's.

    bench/topo_model.py OUT    (OUT holds LAYOUT_COLLECTIVE_NAME.json and LAYOUT.predictions)

A ratio of 1 means the model is right; what matters for the choice is that the ratios of the
algorithms at one size agree (a model that is 3x slow for every algorithm still picks well).
"""

import json
import os
import sys
from collections import defaultdict

NAMES = {"ring": "ring", "rd": "recursive-doubling", "rab": "rabenseifner", "tree": "double-tree",
         "hier": "hierarchical", "bruck": "bruck"}


PIPELINED = {"ring", "hierarchical", "double-tree"}


def human(n):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    predicted = defaultdict(dict)  # (layout, collective, bytes) -> algorithm -> us
    measured = defaultdict(dict)
    ranks = {}
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if name.endswith(".predictions"):
            layout = name[: -len(".predictions")]
            for line in open(path):
                if line.startswith("#") or not line.strip():
                    continue
                collective, size, algorithm, us = line.split()
                predicted[(layout, collective, int(size))][algorithm] = float(us)
        elif name.endswith(".json"):
            layout, collective, variant = name[: -len(".json")].split("_", 2)
            if variant not in NAMES:
                continue
            data = json.load(open(path))
            ranks[layout] = data["nranks"]
            for row in data["rows"]:
                if row["in_place"] or not row["time_us"]:
                    continue
                # choose() takes allgather's per-rank block; the bench reports the whole output.
                size = row["bytes"] // data["nranks"] if collective == "allgather" else row["bytes"]
                measured[(layout, collective, size)][NAMES[variant]] = row["time_us"]
    for key in sorted(measured, key=lambda k: (k[0], k[1], k[2])):
        layout, collective, size = key
        if key not in predicted:
            continue
        m, p = measured[key], predicted[key]
        both = sorted(a for a in m if a in p)
        if not both:
            continue
        best_m = min(both, key=lambda a: m[a])
        best_p = min(both, key=lambda a: p[a])
        # The selector's rule on top of the prices (src/tuning/selector.hpp): from 64 KiB moved,
        # a pipelined schedule within 10% of a cheaper whole-message one is taken instead.
        moved = size * ranks[layout] if collective == "allgather" else size
        if best_p not in PIPELINED and moved >= 64 * 1024:
            pipes = sorted((a for a in both if a in PIPELINED), key=lambda a: p[a])
            if pipes and p[pipes[0]] <= p[best_p] * 1.10:
                best_p = pipes[0]
        cells = " ".join(f"{a}={m[a] / p[a]:.2f}" for a in both)
        loss = m[best_p] / m[best_m]
        print(f"{layout} {collective:9} {human(size):>8}: measured/predicted {cells}; "
              f"best measured {best_m}, selector picks {best_p} ({loss:.2f}x the best time)")


if __name__ == "__main__":
    main()
