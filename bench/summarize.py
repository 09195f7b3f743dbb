#!/usr/bin/env python3
"""Side-by-side summary of banyan-bench and banyan-bench-mpi results.

Reads the JSON files both tools write with -J (any number, in any order), pairs the rows of
banyan with the reference library's (openmpi) by collective, ranks, dtype, op, size and
placement, and prints bus bandwidths and their ratio banyan / reference per size, plus the
small-message latency ratio. Standard library only.

    bench/summarize.py out/banyan_allreduce.json out/openmpi_allreduce.json
    bench/summarize.py --sizes 64K,1M,16M,64M --latency-bytes 8 out/*.json
"""

import argparse
import json
import math
import sys
from collections import defaultdict

BANYAN = "banyan"


def parse_size(text):
    text = text.strip().upper().rstrip("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1] in scale:
        return int(text[:-1]) * scale[text[-1]]
    return int(text)


def human(nbytes):
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale}{unit}"
    return str(nbytes)


def load_rows(paths):
    rows = []
    for path in paths:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"summarize: skipping {path}: {e}", file=sys.stderr)
            continue
        rows.extend(doc.get("rows", []))
    return rows


def ratio_text(num, den):
    if not num or not den:
        return "-"
    return f"{num / den:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="JSON files from banyan-bench / banyan-bench-mpi -J")
    parser.add_argument("--sizes", help="only these sizes, e.g. 64K,1M,16M,64M (default: all)")
    parser.add_argument("--latency-bytes", type=parse_size, default=8,
                        help="size whose time is reported as latency (default 8)")
    parser.add_argument("--in-place", action="store_true", help="compare in-place rows instead")
    args = parser.parse_args()

    wanted = {parse_size(s) for s in args.sizes.split(",")} if args.sizes else None
    rows = load_rows(args.files)
    if not rows:
        print("summarize: no rows", file=sys.stderr)
        return 1

    # (collective, nranks, dtype, op) -> bytes -> library -> row
    groups = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if bool(row.get("in_place")) != args.in_place:
            continue
        key = (row["collective"], row["nranks"], row["dtype"], row["op"])
        groups[key][row["bytes"]][row["library"]] = row

    failed = False
    place = "in-place" if args.in_place else "out-of-place"
    for (collective, nranks, dtype, op), by_size in sorted(groups.items()):
        libraries = sorted({lib for per in by_size.values() for lib in per})
        others = [lib for lib in libraries if lib != BANYAN]
        if BANYAN not in libraries or not others:
            print(f"# {collective} {nranks} ranks {dtype} {op}: need banyan and a reference "
                  f"(have {', '.join(libraries)})")
            continue
        ref = others[0]
        print(f"# {collective}, {nranks} ranks, {dtype}, op {op}, {place}: "
              f"busbw GB/s and time us, ratio = {BANYAN} / {ref}")
        print(f"# {'size':>8} {BANYAN + ' busbw':>13} {ref + ' busbw':>14} {'ratio':>7}"
              f" {BANYAN + ' us':>11} {ref + ' us':>11}")
        log_sum, log_count = 0.0, 0
        for nbytes in sorted(by_size):
            per = by_size[nbytes]
            if BANYAN not in per or ref not in per or nbytes == 0:
                continue
            if wanted is not None and nbytes not in wanted and nbytes != args.latency_bytes:
                continue
            ours, theirs = per[BANYAN], per[ref]
            failed |= bool(ours.get("wrong")) or bool(theirs.get("wrong"))
            if ours["busbw"] > 0 and theirs["busbw"] > 0 and (wanted is None or nbytes in wanted):
                log_sum += math.log(ours["busbw"] / theirs["busbw"])
                log_count += 1
            print(f"  {human(nbytes):>8} {ours['busbw']:13.3f} {theirs['busbw']:14.3f} "
                  f"{ratio_text(ours['busbw'], theirs['busbw']):>7} "
                  f"{ours['time_us']:11.1f} {theirs['time_us']:11.1f}")
        if log_count:
            print(f"  busbw ratio {BANYAN}/{ref}, geometric mean over {log_count} sizes: "
                  f"{math.exp(log_sum / log_count):.2f}")
        lat = by_size.get(args.latency_bytes, {})
        if BANYAN in lat and ref in lat:
            ours, theirs = lat[BANYAN]["time_us"], lat[ref]["time_us"]
            print(f"  {args.latency_bytes}-byte latency: {BANYAN} {ours:.1f} us, {ref} {theirs:.1f} us, "
                  f"ratio {BANYAN}/{ref} {ratio_text(ours, theirs)} (lower is better)")
        print()
    if failed:
        print("summarize: some rows have wrong results (#wrong > 0)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
