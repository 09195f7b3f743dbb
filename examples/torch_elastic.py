"""DistributedDataParallel training that survives a lost rank: the survivors shrink the group,
rebuild DDP on it and train to the end.

Run (3 processes on this machine; this script starts them itself, with torchrun's variables
RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, so the store lives inside rank 0 as under torchrun):

    PYTHONPATH=build/python python3 examples/torch_elastic.py --nproc 3 --kill-rank 1 --kill-at-step 20

Or start the ranks yourself with those variables set (one process per rank), and SIGKILL any of
them, rank 0 included, while they train. Under torchrun, whose agent stops every worker when
one fails, use `python3 -m banyan_torch.run --keep-survivors --nproc_per_node 3
examples/torch_elastic.py ...` (docs/torch.md).

Options:
    --nproc N               start N ranks (launcher mode; without it, RANK etc. must be set)
    --steps N               training steps (default 60)
    --kill-rank R[,R...]    these ranks (original numbers) kill themselves with SIGKILL ...
    --kill-at-step S[,S...] ... at the start of these steps, one per rank (for tests)
    --step-ms MS            sleep this long in each step, so a kill from outside lands mid-run

Each survivor prints the steps it trained on each world size and ends with "continued on K
ranks" (K survivors) and the time from its last good step to training again on the new group.

How it recovers: every rank keeps the model and optimizer state from before its last two steps.
An operation on a lost rank's group raises RuntimeError ("banyan Remote: ... rank N was lost").
The survivors call banyan_torch.shrink(group), agree on the step to resume from (the smallest
step count among them: an allreduce can finish on some ranks and fail on others, so they may be
one step apart), restore that step's state, wrap a fresh model in DDP over the new group and go
on. A step's batch depends on the rank's original number and the step, so a replayed step sees
the same data.
"""

import argparse
import copy
import datetime
import math
import os
import signal
import socket
import subprocess
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

try:
    import banyan_torch
except ImportError as e:  # pragma: no cover - a clearer message than torch's "unknown backend"
    raise SystemExit(f"cannot import banyan_torch ({e}); put build/python on PYTHONPATH") from e


def build_model():
    torch.manual_seed(1234)
    return torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 4))


def batch(original_rank, step, size=16):
    g = torch.Generator().manual_seed(100000 * (original_rank + 1) + step)
    x = torch.randn(size, 32, generator=g)
    return x, (x[:, :4] * 2 - x[:, 4:8]).detach()


class Trainer:
    """A model, its optimizer and DDP over one group; rebuilt from a saved state on a new group."""

    def __init__(self, group, state=None):
        self.group = group
        module = build_model()
        opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.5)
        if state is not None:
            module.load_state_dict(state[0])
            opt.load_state_dict(state[1])
        # A fresh module each time: the broken DDP's autograd hooks stay on the old one.
        # DDP broadcasts the parameters from the group's rank 0, which has the same state.
        self.model = DDP(module, process_group=group)
        self.opt = opt

    def state(self):
        return ({k: v.detach().clone() for k, v in self.model.module.state_dict().items()},
                copy.deepcopy(self.opt.state_dict()))

    def step(self, x, y):
        self.opt.zero_grad()
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        loss.backward()  # DDP's allreduce: a lost rank makes this raise
        self.opt.step()
        return loss.item()


def train(args):
    original = int(os.environ["RANK"])
    dist.init_process_group("banyan", timeout=datetime.timedelta(seconds=args.timeout))
    group = dist.group.WORLD
    trainer = Trainer(None)

    def say(text):
        # One write per line: the ranks share the launcher's stdout, and print() writes the
        # newline separately, so two ranks' lines could run together.
        sys.stdout.flush()
        os.write(1, f"rank {original}: {text}\n".encode())
    steps_on_size = {}  # world size -> steps trained on it
    saved = {}  # step -> state before it (the last two)
    losses = []
    step = 0
    last_good = time.monotonic()
    resumed_after = []
    while step < args.steps:
        if args.kills.get(original) == step:
            say(f"killing itself at step {step} (wall {time.time():.6f})")
            os.kill(os.getpid(), signal.SIGKILL)
        saved[step] = trainer.state()
        saved.pop(step - 2, None)
        try:
            if args.step_ms:
                time.sleep(args.step_ms / 1000)
            loss = trainer.step(*batch(original, step))
        except RuntimeError as error:
            seen = time.monotonic()
            say(f"step {step} failed {seen - last_good:.3f} s after the last good step: "
                f"{str(error).splitlines()[0]}")
            if "declared this rank" in str(error):
                # Stopped too long, now running again: the others went on without this rank.
                # (Its shrink would succeed alone, docs/torch.md "Known issue"; leave instead.)
                say("the others declared this rank lost; leaving")
                return 3
            say(f"lost ranks of its group, as this rank knows them: {banyan_torch.lost_ranks(group)}")
            new_group = banyan_torch.shrink(group)
            shrunk = time.monotonic()
            # The survivors may be a step apart: all go back to the earliest.
            resume = torch.tensor([step], dtype=torch.int64)
            dist.all_reduce(resume, op=dist.ReduceOp.MIN, group=new_group)
            resume = int(resume.item())
            if resume < step:
                steps_on_size[dist.get_world_size(group)] -= 1
                losses.pop()
            group = new_group
            step = resume
            trainer = Trainer(group, saved[step])
            resumed = time.monotonic()
            resumed_after.append(resumed - last_good)
            say(f"shrunk to {dist.get_world_size(group)} ranks (now rank {dist.get_rank(group)}; survivors "
                f"{dist.get_process_group_ranks(group)}) in {shrunk - seen:.3f} s; resuming at step {step}; "
                f"training again {resumed - seen:.3f} s after the error, {resumed - last_good:.3f} s after the "
                f"last good step (wall {time.time():.6f})")
            continue
        if not math.isfinite(loss):
            say(f"step {step}: loss {loss} is not finite")
            return 1
        losses.append(loss)
        size = dist.get_world_size(group)
        steps_on_size[size] = steps_on_size.get(size, 0) + 1
        step += 1
        last_good = time.monotonic()
    on = ", ".join(f"{n} on {size} ranks" for size, n in sorted(steps_on_size.items(), reverse=True))
    say(f"{args.steps} steps: {on}; loss {losses[0]:.5f} -> {losses[-1]:.5f}, all finite")
    say(f"continued on {dist.get_world_size(group)} ranks after {len(resumed_after)} shrink(s)" +
        "".join(f"; resumed {t:.3f} s after the last good step" for t in resumed_after))
    dist.destroy_process_group()  # forgets the broken world group and the shrunk ones
    return 0


def launch(args):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(args.nproc):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(args.nproc),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env=env))
    status = 0
    for rank, p in enumerate(procs):
        p.wait()
        expected = -signal.SIGKILL if rank in args.kills else 0
        if p.returncode != expected:
            print(f"launcher: rank {rank} exited with status {p.returncode}", flush=True)
            status = 1
    return status


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--kill-rank", default="")
    parser.add_argument("--kill-at-step", default="")
    parser.add_argument("--step-ms", type=float, default=0)
    parser.add_argument("--timeout", type=float, default=60, help="the group's timeout in seconds")
    args = parser.parse_args()
    ranks = [int(r) for r in args.kill_rank.split(",") if r]
    steps = [int(s) for s in args.kill_at_step.split(",") if s]
    if len(ranks) != len(steps):
        parser.error("--kill-rank and --kill-at-step need as many values each")
    args.kills = dict(zip(ranks, steps))
    if "RANK" not in os.environ:
        if not args.nproc:
            parser.error("set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, or pass --nproc")
        return launch(args)
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
