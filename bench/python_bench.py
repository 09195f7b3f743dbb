"""One side of bench/interfaces.sh's Python comparison, run as each rank of a 2-rank job.

    python_bench.py banyan|gloo SIZE_BYTES ITERS WARMUP OUT_JSON

banyan: the `banyan` package (ctypes over the C interface) on a numpy float32 array, in place.
gloo: torch.distributed's gloo backend on a float32 tensor, the peer a Python user would reach
for. Both time ITERS allreduces after WARMUP, on the same reused buffer (no first touch in the
timed loop), and rank 0 writes {"time_us": per-call microseconds} to OUT_JSON.
"""
import json
import os
import sys
import time


def main():
    side, size, iters, warmup, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    count = max(size // 4, 1)
    if side == "banyan":
        import numpy as np
        import banyan
        comm = banyan.Communicator.from_environment()
        rank = comm.rank
        data = np.ones(count, dtype=np.float32)
        run = lambda: comm.allreduce(data)
        sync = comm.barrier
    else:
        import torch
        import torch.distributed as dist
        rank, world = int(os.environ["BANYAN_RANK"]), int(os.environ["BANYAN_SIZE"])
        dist.init_process_group("gloo", init_method=f"file://{out}.rendezvous", rank=rank, world_size=world)
        data = torch.ones(count, dtype=torch.float32)
        run = lambda: dist.all_reduce(data)
        sync = dist.barrier
    for _ in range(warmup):
        run()
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        run()
    elapsed = time.perf_counter() - start
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"time_us": elapsed / iters * 1e6}, f)
    sync()


if __name__ == "__main__":
    main()
