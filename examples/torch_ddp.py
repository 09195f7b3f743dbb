"""DistributedDataParallel training of a small model on synthetic data, over banyan.

Run (2 processes on this machine):

    PYTHONPATH=build/python python3 -m banyan_torch.run --nproc_per_node 2 examples/torch_ddp.py

`python3 -m banyan_torch.run` is torchrun with the fix for torch 1.13 on Python 3.11 (plain
torchrun fails there with "AttributeError: 'NoneType' object has no attribute 'get'";
`python3 -m torch.distributed.run -r 1 -t 1 ...` also works). Options:

    --backend banyan|gloo   the process group to train with (default banyan)
    --compare               train with both and print the largest loss difference
    --steps N               training steps (default 20)
    --compress FORMAT       none (default), bf16, fp16 or int8: DDP's gradient allreduce through
                            banyan_torch.compression's comm hook (docs/numerics.md)
    --error-feedback 0|1    with --compress: keep each bucket's residual (default 1)
    --losses-out FILE       rank 0 writes its per-step losses to FILE as JSON

Every rank draws its own batches from a generator seeded by its rank, so the ranks' gradients
differ and DDP's allreduce matters; the model starts from the same seed everywhere.
"""

import argparse
import datetime
import json
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

try:
    import banyan_torch  # noqa: F401  (registers the "banyan" backend)
except ImportError as e:  # pragma: no cover - a clearer message than torch's "unknown backend"
    raise SystemExit(f"cannot import banyan_torch ({e}); put build/python on PYTHONPATH") from e


def build_model():
    torch.manual_seed(1234)
    return torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 4))


def batches(rank, steps, batch=16):
    g = torch.Generator().manual_seed(100 + rank)
    for _ in range(steps):
        x = torch.randn(batch, 32, generator=g)
        y = (x[:, :4] * 2 - x[:, 4:8]).detach()  # a learnable target
        yield x, y


def train(group=None, steps=20, bucket_cap_mb=25, compress="none", error_feedback=True):
    """Trains a fresh model with DDP over `group` (default: the default group) and returns
    (the loss of every step on this rank, the trained module)."""
    model = DDP(build_model(), process_group=group, bucket_cap_mb=bucket_cap_mb)
    if compress != "none":
        from banyan_torch.compression import CompressionState, compressed_allreduce_hook
        model.register_comm_hook(CompressionState(compress, error_feedback, group), compressed_allreduce_hook)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    losses = []
    rank = dist.get_rank()
    for x, y in batches(rank, steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model.module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="banyan", choices=["banyan", "gloo"])
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--compress", default="none", choices=["none", "bf16", "fp16", "int8"])
    parser.add_argument("--error-feedback", type=int, default=1, choices=[0, 1])
    parser.add_argument("--losses-out")
    args = parser.parse_args()
    dist.init_process_group(args.backend, timeout=datetime.timedelta(seconds=120))
    rank = dist.get_rank()
    start = time.monotonic()
    losses, _ = train(steps=args.steps, compress=args.compress, error_feedback=bool(args.error_feedback))
    took = time.monotonic() - start
    if rank == 0 and args.losses_out:
        with open(args.losses_out, "w", encoding="utf-8") as f:
            json.dump({"compress": args.compress, "error_feedback": args.error_feedback, "losses": losses}, f)
    if rank == 0:
        for step, loss in enumerate(losses):
            print(f"step {step:3d}  loss {loss:.6f}")
        print(f"{args.backend}: {args.steps} steps in {took:.3f} s on {dist.get_world_size()} ranks")
    if args.compare:
        other = "gloo" if args.backend == "banyan" else "banyan"
        other_losses, _ = train(group=dist.new_group(backend=other), steps=args.steps)
        diff = max(abs(a - b) for a, b in zip(losses, other_losses))
        if rank == 0:
            print(f"largest loss difference {args.backend} vs {other}: {diff:.3g}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
