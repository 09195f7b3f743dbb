#!/usr/bin/env python3
"""Summarises bench/check-cost.sh: median out-of-place time per (transport, size, check) over
the repetitions, and the ratio check on / check off, as a Markdown table."""
import glob
import json
import os
import re
import statistics
import sys

out = sys.argv[1]
times = {}  # (transport, bytes, check) -> [time_us, ...]
for path in glob.glob(os.path.join(out, "*.json")):
    match = re.match(r"(\w+)-(\w+)-check([01])-rep\d+\.json", os.path.basename(path))
    if not match:
        continue
    transport, _, check = match.groups()
    with open(path) as f:
        report = json.load(f)
    for row in report["rows"]:
        if row.get("in_place"):
            continue
        times.setdefault((transport, row["bytes"], check), []).append(row["time_us"])

print("| transport | size (B) | check on (us, median) | check off (us, median) | on / off | runs |")
print("|---|---|---|---|---|---|")
for transport, size in sorted({(t, b) for t, b, _ in times}):
    on = times.get((transport, size, "1"), [])
    off = times.get((transport, size, "0"), [])
    if not on or not off:
        continue
    m_on, m_off = statistics.median(on), statistics.median(off)
    print(f"| {transport} | {size} | {m_on:.2f} | {m_off:.2f} | {m_on / m_off:.3f} | {len(on)}+{len(off)} |")
