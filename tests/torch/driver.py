"""Runs the banyan_torch tests: each scenario launches its ranks as real processes (torch's
env:// rendezvous over loopback), every rank runs many checks in one process (importing torch
is slow), and the driver merges the ranks' verdicts into a JUnit report that
tools/run-tests.sh counts like Catch2's.

    driver.py --out results.xml [--only SCENARIO] [--list]

A check passes only if every rank that ran it passed it; a rank that crashes, hangs past the
scenario's deadline or never reports fails the scenario.

The elastic cases run examples/torch_elastic.py (its own launcher, torchrun's variables, so the
store lives in rank 0) with 3 ranks, make one rank SIGKILL itself mid-run, and check that both
survivors shrink, train to the end on 2 ranks with finite losses, and say so.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))

# name, ranks, deadline in seconds
SCENARIOS = [
    ("two_ranks", 2, 400),
    ("three_ranks", 3, 400),
    ("failures", 3, 200),
]

# name, ranks, the rank that kills itself, the step it does so at, deadline in seconds
ELASTIC = [
    ("elastic: rank 0 (the store's host) killed", 3, 0, 8, 60),
    ("elastic: a middle rank killed", 3, 1, 8, 60),
]
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "torch_elastic.py")


def run_elastic(name, ranks, kill_rank, kill_at, deadline):
    """Runs the example; returns (failure texts, its output)."""
    env = dict(os.environ, BANYAN_HEARTBEAT_MS="200")
    env.pop("RANK", None)
    command = [sys.executable, EXAMPLE, "--nproc", str(ranks), "--steps", "20", "--kill-rank", str(kill_rank),
               "--kill-at-step", str(kill_at), "--timeout", "30"]
    # Its own session, so that a hang ends with every rank it started (killpg below).
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=deadline)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return [f"{name}: passed its {deadline} s deadline\n" + "\n".join(out.splitlines()[-60:])], out
    failures = []
    if status != 0:
        failures.append(f"the launcher exited with status {status}")
    for rank in range(ranks):
        if rank == kill_rank:
            continue
        mine = [line for line in out.splitlines() if line.startswith(f"rank {rank}: ")]
        if not any(f"continued on {ranks - 1} ranks" in line for line in mine):
            failures.append(f"rank {rank} did not say 'continued on {ranks - 1} ranks'")
        if not any("all finite" in line for line in mine):
            failures.append(f"rank {rank} did not finish with finite losses")
        if not any(f"shrunk to {ranks - 1} ranks" in line for line in mine):
            failures.append(f"rank {rank} did not shrink to {ranks - 1} ranks")
    if failures:
        failures.append("--- output (last 60 lines) ---\n" + "\n".join(out.splitlines()[-60:]))
    return failures, out


def kill_to_resume(out):
    """Seconds from the kill to each survivor training again (the ranks' wall clocks)."""
    killed = re.search(r"killing itself at step \d+ \(wall ([\d.]+)\)", out)
    if not killed:
        return []
    return [float(t) - float(killed.group(1)) for t in re.findall(r"resuming at step .*\(wall ([\d.]+)\)", out)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_scenario(name, ranks, deadline, workdir):
    port = free_port()
    procs = []
    files = []
    for rank in range(ranks):
        out = os.path.join(workdir, f"{name}.{rank}.json")
        log = open(os.path.join(workdir, f"{name}.{rank}.log"), "w")
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(ranks), LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), BANYAN_TORCH_RESULTS=out,
                   OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "worker.py"), name],
                                      env=env, stdout=log, stderr=subprocess.STDOUT))
        files.append((out, log))
    end = time.monotonic() + deadline
    timed_out = False
    for p in procs:
        try:
            p.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    cases = {}  # check name -> list of failure texts (empty: passed)
    problems = []
    for rank, ((out, log), p) in enumerate(zip(files, procs)):
        log.close()
        try:
            with open(out) as f:
                report = json.load(f)
        except (OSError, ValueError):
            report = None
        if report is None:
            problems.append(f"rank {rank} wrote no report (exit status {p.returncode})")
        else:
            for check, verdict in report["checks"]:
                cases.setdefault(check, [])
                if verdict != "ok":
                    cases[check].append(f"rank {rank}: {verdict}")
            if not report.get("finished"):
                problems.append(f"rank {rank} stopped before its last check (exit status {p.returncode})")
            elif p.returncode not in (0, report.get("expected_exit", 0)):
                problems.append(f"rank {rank} exited with status {p.returncode}")
        if problems and problems[-1].startswith(f"rank {rank}"):
            with open(os.path.join(workdir, f"{name}.{rank}.log")) as f:
                problems[-1] += "\n--- its output (last 60 lines) ---\n" + "".join(f.readlines()[-60:])
    if timed_out:
        problems.insert(0, f"scenario {name} passed its {deadline} s deadline and was killed")
    cases[f"{name}: every rank ran to the end"] = problems
    return cases


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--only")
    args = parser.parse_args()
    results = []
    for name, ranks, kill_rank, kill_at, deadline in ELASTIC:
        if args.only and args.only not in name:
            continue
        start = time.monotonic()
        failures, out = run_elastic(name, ranks, kill_rank, kill_at, deadline)
        times = ", ".join(f"{t:.2f}" for t in kill_to_resume(out))
        print(f"   {name} ({ranks} ranks): {'failed' if failures else 'passed'} in {time.monotonic() - start:.0f} s; "
              f"kill to training again on the survivors: {times or '?'} s", flush=True)
        results.append((name, failures))
    with tempfile.TemporaryDirectory(prefix="banyan-torch-tests-") as workdir:
        for name, ranks, deadline in SCENARIOS:
            if args.only and args.only != name:
                continue
            start = time.monotonic()
            cases = run_scenario(name, ranks, deadline, workdir)
            failed = sum(1 for v in cases.values() if v)
            print(f"   {name} ({ranks} ranks): {len(cases) - failed} passed, {failed} failed in "
                  f"{time.monotonic() - start:.0f} s", flush=True)
            for check, failures in cases.items():
                results.append((f"{name}: {check}" if not check.startswith(name) else check, failures))
    with open(args.out, "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
        f.write(f'<testsuite name="torch_tests" tests="{len(results)}" '
                f'failures="{sum(1 for _, v in results if v)}">\n')
        for check, failures in results:
            if failures:
                f.write(f'<testcase classname="torch" name={quoteattr(check)}>\n')
                f.write(f'<failure message="failed">{escape(chr(10).join(failures))}</failure>\n')
                f.write("</testcase>\n")
            else:
                f.write(f'<testcase classname="torch" name={quoteattr(check)}/>\n')
        f.write("</testsuite>\n</testsuites>\n")
    return 1 if any(v for _, v in results) else 0


if __name__ == "__main__":
    sys.exit(main())
