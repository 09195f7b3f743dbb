"""PyTorch's own distributed tests (torch/testing/_internal/distributed/distributed_test.py,
class DistributedTest._DistTestBase) run against banyan and, for comparison, against gloo.

    upstream_suite.py [--backend banyan gloo] [--world-size 2 3] [--tests ci|all|NAME...]
                      [--out results.xml] [--log-dir DIR] [--timeout S] [--list]

Run with /usr/bin/python3 (the Python that has torch) and PYTHONPATH pointing at a build's
python/ directory (tools/torch-upstream.sh and tools/run-tests.sh do both). It prints one line
per test ("PASS|FAIL|SKIP <backend> ws=<n> <test> <seconds>") and, per backend and world size,
"<backend> ws=<n>: P passed, F failed, S skipped". Exit status 1 if any test failed, and with
--tests ci also if a selected test was skipped (the selection is of tests that run).

How the suite is run ("spawn style", as PyTorch runs it upstream): for each backend and world
size a child interpreter sets BACKEND, WORLD_SIZE and TEMP_DIR, imports distributed_test and
defines a test class that is both TestDistBackend and DistributedTest._DistTestBase; every test
then spawns WORLD_SIZE fresh processes (multiprocessing "spawn", which re-imports this file),
each initialising the default group with init_process_group(BACKEND, file:// rendezvous).

How banyan takes gloo's branches. The suite decides on the backend's name in two places:
skip decorators evaluated when the module is imported (sandcastle_skip_if(BACKEND != "gloo"),
require_backend({"gloo"}), DistTestCases sets) and `BACKEND == "gloo"` tests inside test
bodies (for instance the DDP helper that builds its CPU model only for "mpi" or "gloo"). For a
banyan run the module is imported with BACKEND=gloo, so every decorator is the one gloo gets,
and then distributed_test.BACKEND is replaced by _GlooBranches("banyan"): a str whose value is
"banyan" but which compares equal to "gloo" (and hashes like it), so the bodies' branches go as
for gloo too. torch.distributed itself never sees "gloo": init_process_group and new_group
normalise the name through dist.Backend(), which gives the plain string "banyan", so the groups
are banyan's, dist.get_backend() says "banyan", and torch's own name checks (monitored_barrier
accepts only "gloo" in torch 1.13) treat banyan as what it is. Tests that ask for gloo by name
(backend="gloo" / dist.Backend.GLOO, e.g. the monitored_barrier ones) get a real gloo group for
that part, as they would anywhere.

Proof that banyan did the work: in every spawned rank, init_process_group is wrapped so that
after it returns the rank checks that the default group is a banyan group (its C++ backend name
is "banyan" and banyan_torch.lost_ranks() accepts it, which only a ProcessGroupBanyan does) and
writes that to a file; a test that passed without every rank's proof is counted as failed.

The CI selection (--tests ci, run by `make test` as the suite torch_upstream) is CI_SELECTION
below; see the comment there for how it was chosen.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))

# The make-test selection (--tests ci), chosen by timing the whole suite on this shared 2-core
# machine on 2026-12-05 (bench/RESULTS.md, "PyTorch's own distributed tests"): collectives,
# subgroups, point-to-point and the DDP tests that run on CPU, each a test that passed there on
# banyan and on gloo (world size 2: in the whole-suite run; world size 3: this selection run on
# both). Each test costs a fresh spawn of WORLD_SIZE processes that import torch, about 5 s on a
# quiet machine, so the list is short and favours tests that cover several calls per spawn: about
# 26 x 5 s = 2-2.5 minutes on a quiet machine; under load 7-19 from other work it took 312 and 361 s
# (tools/run-tests.sh, suite torch_upstream). Most of the suite's DDP tests need GPUs and skip on
# both backends; the *_group tests need 3 ranks, so they are in the world-size-3 list.
CI_SELECTION = {
    # World size 2: the collectives on the whole group, point-to-point, sparse all_reduce,
    # object collectives and the DDP tests that run on CPU (most of the suite's DDP tests need
    # GPUs and skip on both backends).
    2: [
        "test_all_reduce_sum_async",
        "test_all_reduce_coalesced_full_group_sum",
        "test_all_gather_coalesced_full_group",
        "test_broadcast_full_group",
        "test_reduce_full_group_max",
        "test_gather_full_group",
        "test_scatter_full_group",
        "test_send_recv_any_source",
        "test_batch_isend_irecv_gloo_tags",
        "test_sparse_all_reduce_sum",
        "test_broadcast_object_list",
        "test_DistributedDataParallelCPU",
        "test_accumulate_gradients_no_sync_allreduce_hook",
        "test_ddp_create_graph",
    ],
    # World size 3: the subgroup tests (the suite's *_group tests need 3 ranks and skip at 2)
    # and DDP and tagged point-to-point on 3 ranks.
    3: [
        "test_all_reduce_group_sum",
        "test_all_reduce_coalesced_group_sum",
        "test_all_gather_group",
        "test_broadcast_group",
        "test_reduce_group_max",
        "test_gather_group",
        "test_scatter_group",
        "test_barrier_group",
        "test_all_gather_object_subgroup",
        "test_gather_object_subgroup",
        "test_send_recv_with_tag",
        "test_DistributedDataParallelCPU",
    ],
}


class _GlooBranches(str):
    """The suite's BACKEND in a banyan run: the string "banyan", equal to "gloo" as well."""

    def __eq__(self, other):
        return isinstance(other, str) and (str.__eq__(other, "gloo") or str.__eq__(other, str(self)))

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash("gloo")


def _prove_backend(want):
    """Wraps torch.distributed.init_process_group so that each rank records (and checks) which
    backend its default group really has."""
    import torch.distributed as dist
    import torch.distributed.distributed_c10d as c10d

    original = dist.init_process_group

    def init_process_group(*args, **kwargs):
        original(*args, **kwargs)
        pg = c10d._get_default_group()
        name = pg._get_backend_name()
        proof = f"{dist.get_backend()} {name}"
        if want == "banyan":
            import banyan_torch
            banyan_torch.lost_ranks(pg)  # ValueError unless pg is a ProcessGroupBanyan
            proof += " ProcessGroupBanyan"
        if name != want or dist.get_backend() != want:
            raise RuntimeError(f"upstream_suite: the default group is {proof}, not {want}")
        directory = os.environ.get("BANYAN_SUITE_PROOF")
        if directory:
            with open(os.path.join(directory, f"{os.getpid()}.{dist.get_rank()}"), "w") as f:
                f.write(proof + "\n")

    dist.init_process_group = init_process_group


def _no_replicated_tensor_ddp():
    """TestDistBackend._run switches DDP to its ReplicatedTensor mode (a prototype), which
    imports torch.distributed._shard; with Debian's torch 1.13 on Python 3.11 that import fails
    (a dataclass with a mutable default, refused since 3.11), so every DDP test would fail on
    every backend. The spawned ranks keep DDP in its ordinary mode, the one users get."""
    from torch.nn.parallel import _replicated_tensor_ddp_utils as utils

    utils._set_ddp_with_replicated_tensor = lambda value: None


# --- the child: one backend, one world size (also what each spawned rank imports) -------------

SUITE_BACKEND = os.environ.get("BANYAN_SUITE_BACKEND")
if SUITE_BACKEND:
    try:
        import expecttest  # noqa: F401  (torch's common_utils needs it)
    except ImportError:
        sys.path.append(os.path.join(HERE, "upstream_shim"))
    if SUITE_BACKEND == "banyan":
        import banyan_torch  # noqa: F401  (registers the backend "banyan")
    os.environ["BACKEND"] = "gloo"
    from torch.testing._internal.distributed import distributed_test as _dt
    from torch.testing._internal.distributed.distributed_test import DistributedTest, TestDistBackend

    if SUITE_BACKEND == "banyan":
        _dt.BACKEND = _GlooBranches("banyan")
    os.environ["BACKEND"] = SUITE_BACKEND
    _prove_backend(SUITE_BACKEND)
    _no_replicated_tensor_ddp()

    class TestUpstream(TestDistBackend, DistributedTest._DistTestBase):
        def setUp(self):
            super().setUp()
            self._spawn_processes()

        def _get_timedout_process_traceback(self):
            # A rank still running at the test's timeout: its native threads' stacks go to the
            # log (--log-dir) before torch asks it for its Python traceback and kills it.
            for i, p in enumerate(self.processes):
                if p.exitcode is None and shutil.which("gdb"):
                    try:
                        out = subprocess.run(["gdb", "-p", str(p.pid), "-batch", "-ex", "thread apply all bt 25"],
                                             capture_output=True, text=True, timeout=120).stdout
                    except subprocess.TimeoutExpired:
                        out = "(gdb took over 120 s)"
                    print(f"upstream_suite: rank {i} (pid {p.pid}) still running at the timeout:\n{out}", flush=True)
            super()._get_timedout_process_traceback()


def all_tests():
    return sorted(n for n in dir(DistributedTest._DistTestBase) if n.startswith("test_"))


class _Result(unittest.TestResult):
    def __init__(self, report):
        super().__init__()
        self.report = report
        self.outcome = None

    def addSuccess(self, test):
        self.outcome = ("passed", "")

    def addFailure(self, test, err):
        self.outcome = ("failed", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        self.outcome = ("failed", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        self.outcome = ("skipped", reason)

    def addExpectedFailure(self, test, err):
        self.outcome = ("passed", "expected failure")

    def addUnexpectedSuccess(self, test):
        self.outcome = ("failed", "unexpected success")


def child_main(names, report_path):
    ws = os.environ["WORLD_SIZE"]
    proof_dir = os.environ["BANYAN_SUITE_PROOF"]
    with open(report_path, "a") as report:
        for name in names:
            for f in os.listdir(proof_dir):
                os.unlink(os.path.join(proof_dir, f))
            result = _Result(report)
            start = time.monotonic()
            TestUpstream(name).run(result)
            seconds = time.monotonic() - start
            outcome, detail = result.outcome or ("failed", "no outcome reported")
            if outcome == "passed":
                proofs = []
                for f in os.listdir(proof_dir):
                    with open(os.path.join(proof_dir, f)) as p:
                        proofs.append(p.read().strip())
                if len(proofs) < int(ws) or any(SUITE_BACKEND not in p.split()[:2] for p in proofs):
                    outcome, detail = "failed", f"passed, but not every rank proved it ran on {SUITE_BACKEND}: {proofs}"
            print(f"{outcome.upper()[:4]} {SUITE_BACKEND} ws={ws} {name} {seconds:.1f}", flush=True)
            if outcome == "failed":
                print("  | " + "\n  | ".join(detail.strip().splitlines()[-25:]), flush=True)
            report.write(json.dumps({"test": name, "outcome": outcome, "seconds": round(seconds, 2),
                                     "detail": detail[-20000:]}) + "\n")
            report.flush()


# --- the driver ---------------------------------------------------------------------------------

def run_one(backend, ws, names, timeout, log_dir):
    """Runs `names` on one backend and world size in a child; returns {test: result dict}."""
    with tempfile.TemporaryDirectory(prefix=f"banyan-upstream-{backend}-{ws}-") as work:
        report = os.path.join(work, "report.jsonl")
        proof = os.path.join(work, "proof")
        os.mkdir(proof)
        env = dict(os.environ, BANYAN_SUITE_BACKEND=backend, WORLD_SIZE=str(ws), TEMP_DIR=work,
                   BANYAN_SUITE_PROOF=proof, MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1",
                   DISTRIBUTED_TESTS_DEFAULT_TIMEOUT=str(timeout),
                   # Upstream runs the suite once with env:// and once with file:// (spawn style
                   # initialises with a per-test file either way); INIT_METHOD is read only by
                   # test_barrier_timeout_global, which needs file://. The ranks get a fresh
                   # file per test from TestDistBackend.setUp.
                   INIT_METHOD=f"file://{work}/init")
        env.pop("RANK", None)
        log = open(os.path.join(log_dir, f"{backend}-ws{ws}.log"), "w") if log_dir else None
        # The child prints one line per test; pass them on and keep them for the log. It stays in
        # this process group, so run-tests.sh's `timeout` ends it and its ranks with the driver.
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", report, *names],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            if log:
                log.write(line)
                log.flush()
            if line[:5] in ("PASS ", "FAIL ", "SKIP ") or line.startswith("  | "):
                print(line, end="", flush=True)
        proc.wait()
        if log:
            log.close()
        results = {}
        if os.path.exists(report):
            with open(report) as f:
                for line in f:
                    r = json.loads(line)
                    results[r["test"]] = r
        for name in names:
            if name not in results:
                results[name] = {"test": name, "outcome": "failed", "seconds": 0,
                                 "detail": f"not run: the child exited with status {proc.returncode} before it"}
                print(f"FAIL {backend} ws={ws} {name} (the child exited with status {proc.returncode})")
        return results


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[3:], sys.argv[2])
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", nargs="+", default=["banyan"], choices=["banyan", "gloo"])
    parser.add_argument("--world-size", nargs="+", type=int, default=[2, 3])
    parser.add_argument("--tests", nargs="+", default=["ci"], help="ci, all, or test names")
    parser.add_argument("--out", help="JUnit XML report")
    parser.add_argument("--log-dir", help="keep each child's whole output here")
    parser.add_argument("--timeout", type=int, default=300,
                        help="seconds per test before its ranks are killed (upstream's default: 300)")
    parser.add_argument("--json", help="write every result here (one JSON object a line)")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()

    strict = args.tests == ["ci"]
    per_size = {}  # world size -> its own list (the CI selection differs by size)
    if args.tests == ["ci"]:
        per_size = {ws: CI_SELECTION.get(ws, []) for ws in args.world_size}
        names = sorted({n for v in per_size.values() for n in v})
    elif args.tests == ["all"]:
        names = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-list"],
                               env=dict(os.environ, BANYAN_SUITE_BACKEND="gloo", WORLD_SIZE="2"), check=True,
                               capture_output=True, text=True).stdout.split()
    else:
        names = args.tests
    if args.list:
        for ws in args.world_size:
            print("\n".join(f"ws={ws} {n}" for n in per_size.get(ws, names)))
        return 0
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)

    cases = []  # (suite name, test, outcome, seconds, detail)
    summaries = []
    if args.json:
        open(args.json, "w").close()
    for ws in args.world_size:
        for backend in args.backend:
            these = per_size.get(ws, names)
            results = run_one(backend, ws, these, args.timeout, args.log_dir)
            counts = {"passed": 0, "failed": 0, "skipped": 0}
            for name in these:
                r = results[name]
                outcome, detail = r["outcome"], r["detail"]
                if strict and outcome == "skipped":
                    outcome, detail = "failed", f"a selected test was skipped: {detail}"
                counts[outcome] += 1
                cases.append((f"{backend} ws={ws}", name, outcome, r["seconds"], detail))
                if args.json:  # written as each run ends, so a long run stopped midway keeps them
                    with open(args.json, "a") as f:
                        f.write(json.dumps({"run": f"{backend} ws={ws}", "test": name, "outcome": outcome,
                                            "seconds": r["seconds"], "detail": detail}) + "\n")
            line = f"{backend} ws={ws}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
            summaries.append(line)
            print(line, flush=True)
    for line in summaries:
        print(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
            f.write(f'<testsuite name="torch_upstream" tests="{len(cases)}" '
                    f'failures="{sum(1 for c in cases if c[2] == "failed")}" '
                    f'skipped="{sum(1 for c in cases if c[2] == "skipped")}">\n')
            for suite, name, outcome, seconds, detail in cases:
                head = f'<testcase classname={quoteattr(suite)} name={quoteattr(name)} time="{seconds}"'
                if outcome == "passed":
                    f.write(head + "/>\n")
                elif outcome == "skipped":
                    f.write(head + f'>\n<skipped message={quoteattr(detail[:500])}/>\n</testcase>\n')
                else:
                    f.write(head + f'>\n<failure message="failed">{escape(detail)}</failure>\n</testcase>\n')
            f.write("</testsuite>\n</testsuites>\n")
    return 1 if any(c[2] == "failed" for c in cases) else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-list":
        print("\n".join(all_tests()))
        sys.exit(0)
    sys.exit(main())
