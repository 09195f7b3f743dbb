"""A rank of tests/multiproc/test_process_state.cpp, from Python: imports banyan_torch,
initialises the "banyan" process group (env:// from RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT; BANYAN_TRANSPORT and BANYAN_OFI_PROVIDER choose the transport), runs one
allreduce, then, in the directory DIR, ends by a fatal signal: it must die by that signal.

    python3 crash_torch.py segv|abort DIR
"""

import ctypes
import datetime
import os
import resource
import sys
import time

import torch
import torch.distributed as dist

import banyan_torch  # noqa: F401  (registers "banyan")

mode, directory = sys.argv[1], sys.argv[2]
# Started by banyan's launcher (launchLocalExec), which names the rank its own way.
os.environ.setdefault("RANK", os.environ.get("BANYAN_RANK", "0"))
os.environ.setdefault("WORLD_SIZE", os.environ.get("BANYAN_SIZE", "1"))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file: it would slow the death
dist.init_process_group("banyan", timeout=datetime.timedelta(seconds=60))
t = torch.ones(2)
dist.all_reduce(t)
assert t[0].item() == dist.get_world_size(), t
os.chdir(directory)
with open(f"crash.{dist.get_rank()}", "w") as f:
    f.write(f"{time.monotonic_ns()} {os.getpid()}\n")
if mode == "abort":
    os.abort()
ctypes.string_at(0)  # reads address 0: SIGSEGV
sys.exit(0)  # not reached
