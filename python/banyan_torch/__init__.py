"""banyan as a torch.distributed backend.

    import banyan_torch
    torch.distributed.init_process_group("banyan", ...)

Importing this package registers the backend "banyan" (CPU tensors), which takes everything
gloo takes: torchrun / env:// / tcp:// / file:// initialisation, new_group subgroups,
DistributedDataParallel, async_op=True. The communicator bootstraps from the store torch hands
it (no second rendezvous) and uses the group's timeout as its deadline.

Differences from gloo worth knowing:
  * torch.distributed.monitored_barrier() refuses every backend but gloo in torch 1.13; call
    the group's own method instead: group.monitored_barrier(timeout, wait_all_ranks).
  * Sequence numbers start when the group is created (group._get_sequence_number_for_group()).
  * Launch with `python3 -m banyan_torch.run` (torchrun with the Python 3.11 fix, see run.py).
"""

import torch
import torch.distributed as _dist

from . import _C

__all__ = ["BACKEND", "create_process_group"]

BACKEND = "banyan"


def create_process_group(store, rank, size, timeout):
    """The creator torch calls for init_process_group("banyan") and new_group(backend="banyan")."""
    return _C.create_process_group(store, rank, size, timeout)


def _register():
    # Idempotent: a second import (or a reload) must not trip register_backend's assertion.
    if BACKEND.upper() in _dist.Backend._plugins:
        return
    _dist.Backend.register_backend(BACKEND, create_process_group)


_register()
