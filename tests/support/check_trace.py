#!/usr/bin/python3
"""Test helper: checks one rank's BANYAN_TRACE file against what the job did.

    check_trace.py FILE RANK KIND#SEQ ...    e.g. check_trace.py t-0.json 0 allreduce#1 allgather#2

Passes (exit 0) when the file is valid JSON, its operation spans are exactly the ones listed,
in order, every send/recv/reduce/copy span belongs to one of them (args.sequence) and lies
within its span in time, and at least one send, one recv and one reduce appear."""

import json
import sys


def main():
    path, rank, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with open(path, encoding="utf-8") as f:
        events = json.load(f)  # strict: the closing "]" must be there after close()
    spans = [e for e in events if e.get("ph") == "X"]
    assert spans, "no spans"
    assert all(e["pid"] == rank for e in events), "an event of another rank"
    ops = [e for e in spans if e["cat"] == "operation"]
    names = [e["name"].replace(" #", "#") for e in ops]
    assert names == expected, f"operations {names}, expected {expected}"
    by_sequence = {e["args"]["sequence"]: e for e in ops}
    slack = 1.0  # microseconds: ts are rounded to ns
    for e in spans:
        if e["cat"] == "operation":
            assert e["args"]["ok"] is True and e["args"]["algorithm"], e
            continue
        op = by_sequence.get(e["args"]["sequence"])
        assert op is not None, f"step span of an unknown operation: {e}"
        assert op["ts"] - slack <= e["ts"] and e["ts"] + e["dur"] <= op["ts"] + op["dur"] + slack, \
            f"{e['name']} [{e['ts']}, +{e['dur']}] outside {op['name']} [{op['ts']}, +{op['dur']}]"
    categories = {e["cat"] for e in spans}
    for needed in ("send", "recv", "reduce"):
        assert needed in categories, f"no {needed} span (categories: {sorted(categories)})"
    print(f"{path}: {len(ops)} operations, {len(spans) - len(ops)} step spans, all inside their operations")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"check_trace: {sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(1)
