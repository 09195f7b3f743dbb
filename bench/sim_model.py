#!/usr/bin/env python3
"""Where the selector's cost model and banyan-sim disagree: reads `banyan-sim ... --model`
output (one or more files) and prints, per algorithm and size, the model's time over the
simulated one when it is off by more than THRESHOLD (default 0.2), and the sizes where the
selector's pick is not the fastest simulated algorithm, with what that pick costs.

    bench/sim_model.py [--threshold 0.2] FILE...
"""

import sys


def parse(path):
    layout, algorithms, rows, previous = "", [], [], ""
    for line in open(path):
        if line.startswith("# banyan-sim "):
            layout = line.split(":")[1].split(";")[0].strip()
        elif line.startswith("#") and "time(us)" in line:
            if "model(us)" not in line:
                raise SystemExit(f"{path}: no model(us) columns: run banyan-sim with --model")
            algorithms = previous[1:].split()  # the line above the columns names the algorithms
        elif not line.startswith("#") and line.strip() and line.split()[0].isdigit():
            f = line.split()
            size, cells, pick, best = int(f[0]), f[3:-2], f[-2], f[-1]
            per = {}
            for i, a in enumerate(algorithms):
                t, _, m = cells[3 * i: 3 * i + 3]
                per[a] = (None if t == "-" else float(t), None if m == "-" else float(m))
            rows.append((size, per, pick, best))
        previous = line
    return layout, rows


def main():
    args = sys.argv[1:]
    threshold = 0.2
    if args[:1] == ["--threshold"]:
        threshold, args = float(args[1]), args[2:]
    if not args:
        raise SystemExit(__doc__)
    for path in args:
        layout, rows = parse(path)
        print(f"== {layout} ({path})")
        for size, per, pick, best in rows:
            off = [f"{a} {m / t:.2f}" for a, (t, m) in per.items() if t and m and abs(m / t - 1) > threshold]
            note = ""
            if best != "-" and pick in per and per[pick][0]:
                loss = per[pick][0] / per[best][0]
                if loss > 1.0 + 1e-9:
                    note = f"; pick {pick} is {loss:.2f}x the fastest simulated ({best})"
            elif pick in per and per[pick][0] is None:
                note = f"; pick {pick} not simulated"
            if off or note:
                print(f"{size:>12} model/sim: {', '.join(off) or 'within'}{note}")


if __name__ == "__main__":
    main()
