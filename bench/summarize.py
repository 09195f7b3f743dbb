#!/usr/bin/env python3
"""Side-by-side summary of banyan-bench and banyan-bench-mpi results.

Reads the JSON files both tools write with -J (any number, in any order), pairs the rows of
banyan with the reference library's (openmpi) by collective, ranks, dtype, op, size and
placement, and prints bus bandwidths and their ratio banyan / reference per size, plus the
small-message latency ratio. Standard library only.

    bench/summarize.py out/banyan_allreduce.json out/openmpi_allreduce.json
    bench/summarize.py --sizes 64K,1M,16M,64M --latency-bytes 8 out/*.json
    bench/summarize.py --markdown --label shm --sizes 64K,1M out/*.json   # one table row per
                                                                         # collective x ranks
Any collective the tools run (allreduce, allgather, reduce_scatter, broadcast, reduce, alltoall,
gather, scatter, sendrecv); rows a placement does not measure (time 0, such as in-place alltoall) are skipped.
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


def markdown(groups, wanted, args):
    """One row per collective x ranks: the busbw ratio banyan / reference at each size."""
    sizes = sorted(wanted) if wanted else sorted({b for per in groups.values() for b in per if b})
    if args.markdown_header:
        print("| transport | collective | ranks | " + " | ".join(human(b) for b in sizes) + " |")
        print("|---|---|---|" + "---|" * len(sizes))
    failed = False
    for (collective, nranks, _dtype, _op, _root), by_size in sorted(groups.items()):
        cells = []
        for nbytes in sizes:
            per = by_size.get(nbytes, {})
            ours = per.get(BANYAN)
            theirs = next((row for lib, row in per.items() if lib != BANYAN), None)
            if ours is None or theirs is None:
                cells.append("-")
                continue
            failed |= bool(ours.get("wrong")) or bool(theirs.get("wrong"))
            cells.append(ratio_text(ours["busbw"], theirs["busbw"]))
        print(f"| {args.label} | {collective} | {nranks} | " + " | ".join(cells) + " |")
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="JSON files from banyan-bench / banyan-bench-mpi -J")
    parser.add_argument("--sizes", help="only these sizes, e.g. 64K,1M,16M,64M (default: all)")
    parser.add_argument("--latency-bytes", type=parse_size, default=8,
                        help="size whose time is reported as latency (default 8)")
    parser.add_argument("--in-place", action="store_true", help="compare in-place rows instead")
    parser.add_argument("--markdown", action="store_true",
                        help="print only markdown table rows: label | collective | ranks | ratio per size")
    parser.add_argument("--markdown-header", action="store_true",
                        help="with --markdown, print the table's header lines first")
    parser.add_argument("--label", default="", help="first column of --markdown rows (e.g. the transport)")
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
        if not row.get("time_us"):  # not measured: no such placement, or nothing to send
            continue
        key = (row["collective"], row["nranks"], row["dtype"], row["op"], row.get("root", -1))
        groups[key][row["bytes"]][row["library"]] = row

    if args.markdown:
        return markdown(groups, wanted, args)

    failed = False
    place = "in-place" if args.in_place else "out-of-place"
    for (collective, nranks, dtype, op, root), by_size in sorted(groups.items()):
        libraries = sorted({lib for per in by_size.values() for lib in per})
        others = [lib for lib in libraries if lib != BANYAN]
        if BANYAN not in libraries or not others:
            print(f"# {collective} {nranks} ranks {dtype} {op}: need banyan and a reference "
                  f"(have {', '.join(libraries)})")
            continue
        ref = others[0]
        rooted = f", root {root}" if root >= 0 else ""
        print(f"# {collective}, {nranks} ranks, {dtype}, op {op}{rooted}, {place}: "
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
