"""One rank of bench/ddp.sh: torchvision's resnet18 trained with DistributedDataParallel on
synthetic images, over "banyan" and over "gloo" in the same processes, alternating.

Per backend it reports:
- step: the time of one training step (forward, backward with DDP's bucketed gradient
  allreduce overlapping it, optimizer step), the slowest rank's, median over every timed step;
- compute: the same step inside `ddp.no_sync()` (DDP skips the allreduce; everything else the
  same), the step without communication;
- exposed = step - compute: the communication the backward pass did not hide, and its share of
  the step (exposed / step);
- comm: the allreduce alone of a flat tensor as large as all gradients (in buckets of DDP's
  25 MiB), what communication would cost if nothing overlapped it; overlap = 1 - exposed / comm
  (0 when the step waited longer than the allreduce alone takes: a rank slowed by the load, not
  the transfer, held the others).

Rounds alternate the backends (banyan first, then gloo first, ...), each round timing STEPS
steps of each kind, so both see the same drift of the shared machine. Environment: DDP_BATCH
(8 images per rank), DDP_IMAGE (32: 32x32 pixels), DDP_ROUNDS (4), DDP_STEPS (5).
"""

import datetime
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torchvision
from torch.nn.parallel import DistributedDataParallel as DDP

import banyan_torch  # noqa: F401  (registers the "banyan" backend)

BATCH = int(os.environ.get("DDP_BATCH", "8"))
IMAGE = int(os.environ.get("DDP_IMAGE", "32"))
ROUNDS = int(os.environ.get("DDP_ROUNDS", "4"))
STEPS = int(os.environ.get("DDP_STEPS", "5"))
BUCKET = 25 << 20


class Trainer:
    """A resnet18 under DDP over one group, with its optimizer and this rank's synthetic data."""

    def __init__(self, group, rank):
        torch.manual_seed(0)
        self.group = group
        self.ddp = DDP(torchvision.models.resnet18(num_classes=10), process_group=group)
        self.opt = torch.optim.SGD(self.ddp.parameters(), lr=0.01, momentum=0.9)
        g = torch.Generator().manual_seed(100 + rank)
        self.x = torch.randn(BATCH, 3, IMAGE, IMAGE, generator=g)
        self.y = torch.randint(0, 10, (BATCH,), generator=g)
        numel = sum(p.numel() for p in self.ddp.parameters())
        self.flat = [torch.ones(min(BUCKET // 4, numel - i)) for i in range(0, numel, BUCKET // 4)]
        self.nbytes = numel * 4

    def step(self):
        self.opt.zero_grad()
        torch.nn.functional.cross_entropy(self.ddp(self.x), self.y).backward()
        self.opt.step()

    def local_step(self):
        with self.ddp.no_sync():
            self.step()

    def allreduce_all(self):
        for t in self.flat:
            dist.all_reduce(t, group=self.group)

    def timed(self, fn):
        """Seconds of each of STEPS calls of fn, the slowest rank's per call."""
        times = []
        for _ in range(STEPS):
            dist.barrier(group=self.group)
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        s = torch.tensor(times, dtype=torch.float64)
        dist.all_reduce(s, op=dist.ReduceOp.MAX, group=self.group)
        return s.tolist()


def main():
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=600))
    rank, world = dist.get_rank(), dist.get_world_size()
    trainers = {"banyan": Trainer(dist.new_group(backend="banyan"), rank), "gloo": Trainer(dist.group.WORLD, rank)}
    for t in trainers.values():  # warm-up: connections, buckets rebuilt after the first step, allocator
        for _ in range(2):
            t.step()
            t.local_step()
        t.allreduce_all()
    kinds = ("step", "compute", "comm")
    got = {b: {k: [] for k in kinds} for b in trainers}
    for r in range(ROUNDS):
        order = ("banyan", "gloo") if r % 2 == 0 else ("gloo", "banyan")
        for backend in order:
            t = trainers[backend]
            got[backend]["step"] += t.timed(t.step)
            got[backend]["compute"] += t.timed(t.local_step)
            got[backend]["comm"] += t.timed(t.allreduce_all)
    if rank == 0:
        nbytes = trainers["banyan"].nbytes
        print(f"# resnet18, {world} ranks, batch {BATCH} of {IMAGE}x{IMAGE} per rank, {nbytes / 1e6:.1f} MB of "
              f"gradients, torch {torch.__version__}, {torch.get_num_threads()} thread(s) per rank, load average "
              f"{os.getloadavg()[0]:.1f}; ms, medians of {ROUNDS * STEPS} steps (slowest rank)")
        print(f"# {'backend':<8}{'step':>9}{'compute':>9}{'exposed':>9}{'share':>7}{'comm':>9}{'overlap':>9}")
        med = {b: {k: statistics.median(v) * 1e3 for k, v in got[b].items()} for b in got}
        for backend, m in med.items():
            exposed = max(0.0, m["step"] - m["compute"])
            print(f"  {backend:<8}{m['step']:>9.1f}{m['compute']:>9.1f}{exposed:>9.1f}{exposed / m['step']:>7.2f}"
                  f"{m['comm']:>9.1f}{max(0.0, 1 - exposed / m['comm']):>9.2f}")
        print(f"  ddp {world} ranks: step gloo / banyan = {med['gloo']['step'] / med['banyan']['step']:.2f} "
              f"(aim >= 1.3 where communication is a real share, never below 1.0)", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
