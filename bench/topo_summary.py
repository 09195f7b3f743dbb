#!/usr/bin/env python3
"""Summary of bench/topo.sh: per layout, collective and size, the busbw (GB/s, out-of-place) of
every forced algorithm and of the automatic choice, auto / best forced, and the worst point;
on rate-limited layouts, the largest size's busbw as a share of the link rate.

    bench/topo_summary.py [--rate 1gbit] OUT/*.json     (files named LAYOUT_COLLECTIVE_NAME.json)
"""

import argparse
import json
import os
import sys
from collections import defaultdict


def rate_gbs(text):
    text = text.lower()
    for suffix, scale in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale / 8 / 1e9
    raise SystemExit(f"topo_summary: rate '{text}' is not like 1gbit or 100mbit")


def human(n):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", default="1gbit")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    link = rate_gbs(args.rate)
    # (layout, collective) -> name -> bytes -> busbw
    table = defaultdict(lambda: defaultdict(dict))
    for path in args.files:
        layout, collective, name = os.path.basename(path)[: -len(".json")].split("_", 2)
        with open(path) as f:
            data = json.load(f)
        if data.get("wrong_total", 0):
            print(f"WARNING: {path} has {data['wrong_total']} wrong values", file=sys.stderr)
        for row in data["rows"]:
            if not row["in_place"] and row["time_us"]:
                table[(layout, collective)][name][row["bytes"]] = row["busbw"]
    worst = None
    for (layout, collective), by_name in sorted(table.items()):
        names = ["auto"] + sorted(n for n in by_name if n != "auto")
        forced = [n for n in names if n != "auto"]
        print(f"\n### {layout} {collective} (busbw GB/s, out-of-place)\n")
        print("| size | " + " | ".join(names) + " | auto / best forced |")
        print("|---" * (len(names) + 2) + "|")
        sizes = sorted(set().union(*[set(v) for v in by_name.values()]))
        for size in sizes:
            cells = [by_name[n].get(size) for n in names]
            best = max((by_name[n].get(size) or 0) for n in forced) if forced else 0
            auto = by_name["auto"].get(size)
            ratio = auto / best if auto and best else None
            if ratio is not None and (worst is None or ratio < worst[0]):
                worst = (ratio, layout, collective, size)
            print(f"| {human(size)} | " + " | ".join("-" if c is None else f"{c:.4g}" for c in cells) +
                  f" | {'-' if ratio is None else f'{ratio:.2f}'} |")
        if not layout.startswith("1x") and sizes:
            top = max(sizes)
            best_name = max(names, key=lambda n: by_name[n].get(top) or 0)
            bw = by_name[best_name].get(top) or 0
            print(f"\nLargest size {human(top)}: best {best_name} {bw:.3f} GB/s = {bw / link:.0%} of the "
                  f"{args.rate} link ({link:.3f} GB/s)")
    if worst:
        print(f"\nWorst point: auto / best forced = {worst[0]:.2f} at {worst[1]} {worst[2]} {human(worst[3])}")


if __name__ == "__main__":
    main()
