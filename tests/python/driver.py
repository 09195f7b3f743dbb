"""Runs the tests of the banyan package (python/banyan, no torch): each scenario starts its ranks
with `python3 -m banyan.run` (so the launcher is tested by every scenario), every rank runs the
scenario's checks in one process (tests/python/worker.py), and the driver merges the ranks'
verdicts into a JUnit report that tools/run-tests.sh counts like Catch2's.

    driver.py --out results.xml [--only SCENARIO]

A check passes only if every rank that ran it passed it; a rank that crashes, hangs past the
scenario's deadline or never reports fails the scenario. The launcher's own cases run
examples/numpy_allreduce.py and check exit statuses.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "numpy_allreduce.py")

# name, worker scenario, ranks, extra environment, deadline in seconds
SCENARIOS = [
    ("two_ranks", "collectives", 2, {}, 60),
    ("three_ranks", "collectives", 3, {}, 60),
    ("timeout", "timeout", 2, {"BANYAN_TIMEOUT": "1s"}, 30),
]


def launch(ranks, command, env, deadline):
    """python3 -m banyan.run -n RANKS COMMAND...; returns (exit status or None if past the deadline,
    output)."""
    try:
        done = subprocess.run([sys.executable, "-m", "banyan.run", "-n", str(ranks)] + command, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=deadline,
                              start_new_session=True)
        return done.returncode, done.stdout
    except subprocess.TimeoutExpired as e:
        # The launcher's children die with it (PR_SET_PDEATHSIG), so killing it ends them too.
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return None, out


def run_scenario(name, scenario, ranks, extra, deadline, workdir):
    env = dict(os.environ, BANYAN_PY_RESULTS=workdir, OMP_NUM_THREADS="1", **extra)
    status, out = launch(ranks, [os.path.join(HERE, "worker.py"), scenario], env, deadline)
    cases = {}  # check name -> failure texts (empty: passed)
    problems = []
    if status is None:
        problems.append(f"scenario {name} passed its {deadline} s deadline and was killed")
    for rank in range(ranks):
        try:
            with open(os.path.join(workdir, f"{scenario}.{rank}.json")) as f:
                report = json.load(f)
        except (OSError, ValueError):
            problems.append(f"rank {rank} wrote no report")
            continue
        for check, verdict in report["checks"]:
            cases.setdefault(check, [])
            if verdict != "ok":
                cases[check].append(f"rank {rank}: {verdict}")
        if not report["finished"]:
            problems.append(f"rank {rank} stopped before its last check")
    if status not in (0, None):
        problems.append(f"python3 -m banyan.run exited with {status}")
    if problems:
        problems.append("--- output (last 60 lines) ---\n" + "\n".join(out.splitlines()[-60:]))
    cases[f"{name}: every rank ran to the end"] = problems
    for path in os.listdir(workdir):
        os.remove(os.path.join(workdir, path))
    return {(check if check.startswith(name) else f"{name}: {check}"): v for check, v in cases.items()}


def launcher_cases():
    """banyan.run itself: the example on 3 ranks, a failing rank's status, the deadline."""
    results = []
    status, out = launch(3, [EXAMPLE], dict(os.environ), 60)
    # Counted in the whole text: the ranks share the pipe, so their lines may interleave.
    failures = [] if status == 0 and out.count("all checks passed") == 3 else [f"status {status}, output:\n{out}"]
    results.append(("launcher: examples/numpy_allreduce.py on 3 ranks", failures))

    status, out = launch(3, ["--no-python", "sh", "-c", "exit $((BANYAN_RANK == 2 ? 5 : 0))"], dict(os.environ), 30)
    failures = [] if status == 5 and "rank 2 exited with 5" in out else [f"status {status}, output:\n{out}"]
    results.append(("launcher: a failing rank's status is the launch's", failures))

    status, out = launch(1, ["--timeout", "0.5", "--no-python", "sleep", "20"], dict(os.environ), 30)
    failures = [] if status == 124 and "Timeout" in out else [f"status {status}, output:\n{out}"]
    results.append(("launcher: --timeout kills ranks still running", failures))
    return results


def write_junit(path, results):
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
        f.write(f'<testsuite name="python_tests" tests="{len(results)}" '
                f'failures="{sum(1 for _, v in results if v)}">\n')
        for check, failures in results:
            if failures:
                f.write(f'<testcase classname="python" name={quoteattr(check)}>\n')
                f.write(f'<failure message="failed">{escape(chr(10).join(failures))}</failure>\n')
                f.write("</testcase>\n")
            else:
                f.write(f'<testcase classname="python" name={quoteattr(check)}/>\n')
        f.write("</testsuite>\n</testsuites>\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--only")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="banyan-python-tests-") as workdir:
        for name, scenario, ranks, extra, deadline in SCENARIOS:
            if args.only and args.only != name:
                continue
            start = time.monotonic()
            cases = run_scenario(name, scenario, ranks, extra, deadline, workdir)
            failed = sum(1 for v in cases.values() if v)
            print(f"   {name} ({ranks} ranks): {len(cases) - failed} passed, {failed} failed in "
                  f"{time.monotonic() - start:.0f} s", flush=True)
            results += list(cases.items())
    if not args.only or args.only == "launcher":
        start = time.monotonic()
        cases = launcher_cases()
        print(f"   launcher: {sum(1 for _, v in cases if not v)} passed, {sum(1 for _, v in cases if v)} failed in "
              f"{time.monotonic() - start:.0f} s", flush=True)
        results += cases
    write_junit(args.out, results)
    return 1 if any(v for _, v in results) else 0


if __name__ == "__main__":
    sys.exit(main())
