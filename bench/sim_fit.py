#!/usr/bin/env python3
"""Fits banyan-sim's CPU figures to measurements on some collectives and checks them on the
others (docs/simulation.md, "Validation"): for each combination of --inter-cpu, --intra-cpu and
--intra bandwidth in the grids below, `banyan-sim --validate` runs on the FIT collectives of DIR,
and the combination with the lowest error (the mean over layouts of each layout's median error)
is then run on the collectives left out, which
did not choose it. Prints every combination's fit error, the chosen one, and the held-out
summary.

    bench/sim_fit.py DIR [--fit allreduce,allgather] [--sim build/tools/banyan-sim]
                     [--machine-cores 2] [--inter-cpu 0,5,10,15,20] [--intra-cpu 0,1,2,4]
                     [--intra-bw probed,2GB/s,4GB/s,8GB/s]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile


def subset(directory, collectives, into):
    """Copies DIR's LAYOUT.topo files and the LAYOUT_COLLECTIVE.tsv of `collectives` into `into`."""
    os.makedirs(into, exist_ok=True)
    for name in os.listdir(directory):
        keep = name.endswith(".topo") or (
            name.endswith(".tsv") and name[:-4].split("_", 1)[1] in collectives)
        if keep:
            shutil.copy(os.path.join(directory, name), into)


def run(sim, directory, flags):
    out = subprocess.run([sim, "--validate", directory] + flags, capture_output=True, text=True, check=True).stdout
    summary = {}
    for line in out.splitlines():
        m = re.match(r"# ([^:]+): (\d+) points, median error (\d+)%.*?at (\d+) of (\d+) sizes.*clear, at (\d+) of (\d+)",
                     line)
        if m:
            summary[m.group(1)] = (int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6)),
                                   int(m.group(7)))
    return summary, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--fit", default="allreduce")
    parser.add_argument("--sim", default="build/tools/banyan-sim")
    parser.add_argument("--machine-cores", default="2")
    parser.add_argument("--inter-cpu", default="0,5,10,15,20,30")
    parser.add_argument("--intra-cpu", default="0,1,2,3,5")
    parser.add_argument("--intra-bw", default="probed,2GB/s,3GB/s,4GB/s,6GB/s")
    args = parser.parse_args()
    collectives = {n[:-4].split("_", 1)[1] for n in os.listdir(args.dir) if n.endswith(".tsv")}
    fit = set(args.fit.split(","))
    if not fit <= collectives:
        sys.exit(f"sim_fit: --fit {args.fit}: {args.dir} measured only {','.join(sorted(collectives))}")
    held = collectives - fit
    work = tempfile.mkdtemp(prefix="sim-fit-")
    subset(args.dir, fit, os.path.join(work, "fit"))
    subset(args.dir, held, os.path.join(work, "held"))
    results = []
    print(f"# fit on {','.join(sorted(fit))}; machine cores {args.machine_cores}")
    print(f"{'inter-cpu':>9} {'intra-cpu':>9} {'intra-bw':>9} {'error%':>8} {'same':>7} {'clear':>7}")
    for inter in args.inter_cpu.split(","):
        for intra in args.intra_cpu.split(","):
            for bw in args.intra_bw.split(","):
                flags = ["--machine-cores", args.machine_cores, "--inter-cpu", f"{inter}us",
                         "--intra-cpu", f"{intra}us"]
                if bw != "probed":
                    flags += ["--intra-bw", bw]
                summary, _ = run(args.sim, os.path.join(work, "fit"), flags)
                _, same, sizes, clearSame, clear = summary["all sizes"]
                # Each layout counts alike: the mean of the layouts' median errors (the median over
                # all points would let one layout's points be ignored).
                layouts = [v[0] for k, v in summary.items() if re.fullmatch(r"\d+x\d+", k)]
                error = round(sum(layouts) / len(layouts))
                results.append((error, -clearSame, inter, intra, bw, flags))
                print(f"{inter:>9} {intra:>9} {bw:>9} {error:>8} {same:>3}/{sizes:<3} {clearSame:>3}/{clear:<3}")
    results.sort()
    error, _, inter, intra, bw, flags = results[0]
    print(f"# chosen on the fit: --inter-cpu {inter}us --intra-cpu {intra}us --intra-bw {bw} (mean of the layouts' median errors {error}%)")
    if held:
        _, out = run(args.sim, os.path.join(work, "held"), flags)
        print(f"# held out ({','.join(sorted(held))}), with the chosen figures:")
        print("\n".join(line for line in out.splitlines() if re.match(r"# [^:]+: \d+ points", line)))
    _, out = run(args.sim, args.dir, flags)
    print("# every collective, with the chosen figures:")
    print("\n".join(line for line in out.splitlines() if re.match(r"# [^:]+: \d+ points", line)))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
