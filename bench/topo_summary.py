#!/usr/bin/env python3
"""Summary of bench/topo.sh: per layout, collective and size, the busbw (GB/s, median of the
rounds) of every forced algorithm and of the automatic choice, auto / best forced, how many
points are within 10% (ratio >= 0.90), and the worst point; the same for auto-table (the
automatic choice following a tuning table measured just before, when the run has one); on rate-limited layouts, the largest
size's busbw as a share of the link rate; the load average around each job.

    bench/topo_summary.py [--rate 1gbit] OUT/*.tsv     (files named LAYOUT_COLLECTIVE.tsv)
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from topo_results import human, read  # noqa: E402


def rate_gbs(text):
    text = text.lower()
    for suffix, scale in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale / 8 / 1e9
    raise SystemExit(f"topo_summary: rate '{text}' is not like 1gbit or 100mbit")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", default="1gbit")
    parser.add_argument("--min-bytes", type=int, default=0, help="count only sizes from this many bytes")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    link = rate_gbs(args.rate)
    table, loads, picks = read(args.files)
    totals = {}  # collective -> [within, points, worst]
    table_totals = {}  # collective -> [within, points, worst] of auto-table
    twin_totals = {}  # collective -> [twin within 10% of the best, points]
    for (layout, collective), by_name in sorted(table.items()):
        if "auto" not in by_name:
            continue
        forced = sorted(n for n in by_name if not n.startswith("auto"))
        tabled = "auto-table" in by_name
        names = ["auto"] + (["auto-table"] if tabled else []) + forced
        print(f"\n### {layout} {collective} (busbw GB/s, median of the rounds)\n")
        print("| size | " + " | ".join(names) + " | best forced | auto / best |" +
              (" auto-table / best |" if tabled else "") + " auto runs | its forced twin / best |")
        print("|---" * (len(names) + 5 + tabled) + "|")
        t_within = t_points = 0
        t_worst = None
        sizes = sorted(set().union(*[set(v) for v in by_name.values()]))
        within = points = 0
        worst = None
        twins, noise = [], []
        for size in sizes:
            auto = by_name["auto"].get(size)
            # Ratios from the times (busbw is printed rounded): best forced time / auto time.
            best_name = min(forced, key=lambda n: by_name[n][size].median_us if size in by_name[n] else float("inf"))
            best = by_name[best_name].get(size)
            ratio = best.median_us / auto.median_us if auto and best and auto.median_us else None
            cells = ["-" if size not in by_name[n] else f"{by_name[n][size].busbw:.3g}" for n in names]
            # The forced run of the algorithm auto runs: the same schedule, measured as a candidate,
            # so twin / best is the choice's loss, and auto / twin this run's noise.
            twin = picks.get((layout, collective), {}).get(size)
            twin_ratio = (best.median_us / by_name[twin][size].median_us
                          if twin in by_name and size in by_name[twin] and best else None)
            if twin_ratio is not None and size >= args.min_bytes:
                twins.append(twin_ratio)
                if auto:
                    noise.append(by_name[twin][size].median_us / auto.median_us)
            t_cell = ""
            if tabled:
                at = by_name["auto-table"].get(size)
                t_ratio = best.median_us / at.median_us if at and best and at.median_us else None
                t_cell = f" {'-' if t_ratio is None else f'{t_ratio:.2f}'} |"
                if t_ratio is not None and size >= args.min_bytes:
                    t_points += 1
                    t_within += t_ratio >= 0.90
                    if t_worst is None or t_ratio < t_worst[0]:
                        t_worst = (t_ratio, size, best_name)
            print(f"| {human(size)} | " + " | ".join(cells) +
                  f" | {best_name} | {'-' if ratio is None else f'{ratio:.2f}'} |{t_cell} {twin or '-'} | "
                  f"{'-' if twin_ratio is None else f'{twin_ratio:.2f}'} |")
            if ratio is None or size < args.min_bytes:
                continue
            points += 1
            within += ratio >= 0.90
            if worst is None or ratio < worst[0]:
                worst = (ratio, size, best_name)
        print(f"\nWithin 10% of the best forced: {within} of {points} points", end="")
        print(f"; worst {worst[0]:.2f} at {human(worst[1])} (best: {worst[2]})" if worst else "")
        if tabled:
            print(f"auto-table within 10% of the best forced: {t_within} of {t_points} points", end="")
            print(f"; worst {t_worst[0]:.2f} at {human(t_worst[1])} (best: {t_worst[2]})" if t_worst else "")
            tt = table_totals.setdefault(collective, [0, 0, None])
            tt[0] += t_within
            tt[1] += t_points
            if t_worst and (tt[2] is None or t_worst[0] < tt[2][0]):
                tt[2] = (t_worst[0], layout, t_worst[1], t_worst[2])
        if twins:
            print(f"Its forced twin within 10% of the best: {sum(r >= 0.90 for r in twins)} of {len(twins)}; "
                  f"auto / twin (the same schedule twice: noise) {min(noise):.2f}-{max(noise):.2f}, "
                  f"{sum(0.9 <= r <= 1.1 / 0.9 for r in noise)} of {len(noise)} within 10%")
        t2 = twin_totals.setdefault(collective, [0, 0])
        t2[0] += sum(r >= 0.90 for r in twins)
        t2[1] += len(twins)
        t = totals.setdefault(collective, [0, 0, None])
        t[0] += within
        t[1] += points
        if worst and (t[2] is None or worst[0] < t[2][0]):
            t[2] = (worst[0], layout, worst[1], worst[2])
        if not layout.startswith("1x") and sizes:
            top = max(sizes)
            best_name = max(forced, key=lambda n: by_name[n][top].busbw if top in by_name[n] else 0)
            bw = by_name[best_name][top].busbw
            print(f"Largest size {human(top)}: best {best_name} {bw:.3f} GB/s = {bw / link:.0%} of the "
                  f"{args.rate} link ({link:.3f} GB/s)")
    print("\n### Totals (auto within 10% of the best forced)\n")
    for collective, (within, points, worst) in sorted(totals.items()):
        line = f"- {collective}: {within} of {points} points"
        if worst:
            line += f"; worst {worst[0]:.2f} at {worst[1]} {human(worst[2])} (best forced: {worst[3]})"
        tw = twin_totals.get(collective)
        if tw and tw[1]:
            line += f"; the forced twin of auto's pick: {tw[0]} of {tw[1]}"
        print(line)
    if table_totals:
        print("\n### Totals (auto-table within 10% of the best forced)\n")
        for collective, (within, points, worst) in sorted(table_totals.items()):
            line = f"- {collective}: {within} of {points} points"
            if worst:
                line += f"; worst {worst[0]:.2f} at {worst[1]} {human(worst[2])} (best forced: {worst[3]})"
            print(line)
    print("\n### Load average per size (1, 5, 15 min: before -> after)\n")
    for layout, lines in sorted(loads.items()):
        if lines:
            print(f"- {layout}: first {lines[0]}; last {lines[-1]}")


if __name__ == "__main__":
    main()
