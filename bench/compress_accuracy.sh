#!/usr/bin/env bash
# What compressed allreduce does to training (issue 21 item 2): examples/torch_ddp.py on 2 local
# ranks over banyan, DDP's gradient allreduce uncompressed (f32) and through
# banyan_torch.compression's comm hook with bf16, fp16 and int8, each with and without error
# feedback, the same seeds and batches. Prints per run the loss at a few steps, the mean loss of
# the last 50 steps and its difference from f32's, and draws the curves (OUT/losses.png).
#
#   bench/compress_accuracy.sh [BUILD]       default: build
# Environment: ACC_STEPS (400), ACC_RANKS (2), ACC_OUT (bench/out/compress-accuracy-<time>).
set -uo pipefail

BUILD=$(readlink -f "${1:-build}")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
STEPS=${ACC_STEPS:-400}
RANKS=${ACC_RANKS:-2}
OUT=${ACC_OUT:-bench/out/compress-accuracy-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
status=0
for run in none:1 bf16:0 bf16:1 fp16:0 fp16:1 int8:0 int8:1; do
  format=${run%:*} feedback=${run#*:}
  echo "== --compress $format --error-feedback $feedback"
  PYTHONPATH=$BUILD/python nice -n 10 /usr/bin/python3 -m banyan_torch.run --nproc_per_node "$RANKS" \
    "$ROOT/examples/torch_ddp.py" --steps "$STEPS" --compress "$format" --error-feedback "$feedback" \
    --losses-out "$OUT/${format}_ef${feedback}.json" >"$OUT/${format}_ef${feedback}.log" 2>&1 ||
    { status=1; tail -5 "$OUT/${format}_ef${feedback}.log"; }
done

/usr/bin/python3 - "$OUT" "$STEPS" <<'PY' || status=1
import json, os, sys
out, steps = sys.argv[1], int(sys.argv[2])
runs = {}
for name in ["none_ef1", "bf16_ef0", "bf16_ef1", "fp16_ef0", "fp16_ef1", "int8_ef0", "int8_ef1"]:
    path = os.path.join(out, name + ".json")
    if os.path.exists(path):
        with open(path) as f:
            runs[name] = json.load(f)["losses"]
base = runs.get("none_ef1")
marks = [0, steps // 10, steps // 4, steps // 2, steps - 1]
tail = lambda xs: sum(xs[-50:]) / len(xs[-50:])
print(f"== loss on rank 0 ({steps} steps, same batches); last50 = mean loss of the last 50 steps")
print(f"{'run':>10} " + " ".join(f"{'step ' + str(m):>11}" for m in marks) + f" {'last50':>10} {'vs f32':>9}"
      f" {'mean |loss - f32|':>18}")
for name, losses in runs.items():
    label = "f32" if name == "none_ef1" else name.replace("_ef1", " +EF").replace("_ef0", " no EF")
    diff = f"{(tail(losses) - tail(base)) / tail(base) * 100:+8.2f}%" if base else "-"
    gap = sum(abs(a - b) for a, b in zip(losses, base)) / len(losses) if base else float("nan")
    print(f"{label:>10} " + " ".join(f"{losses[m]:11.5f}" for m in marks) + f" {tail(losses):10.5f} {diff:>9}"
          f" {gap:18.3g}")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, losses in runs.items():
        ax.plot(losses, label="f32" if name == "none_ef1" else name.replace("_ef1", " + error feedback").replace("_ef0", ""),
                linewidth=0.8)
    ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_ylabel("training loss (rank 0)")
    ax.set_title("examples/torch_ddp.py, DDP over banyan, compressed gradient allreduce"); ax.legend()
    fig.savefig(os.path.join(out, "losses.png"), dpi=110)
    print(f"curves: {os.path.join(out, 'losses.png')}")
except ImportError:
    print("no matplotlib: no plot")
PY
exit $status
