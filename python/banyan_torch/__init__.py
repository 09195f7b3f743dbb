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

Surviving a lost rank (docs/torch.md, examples/torch_elastic.py): when a rank dies or stops,
every survivor's operations on a banyan group fail with a RuntimeError naming it ("banyan
Remote: ... rank N was lost: ..."). Then shrink(group) gives the survivors a new group to go
on with; lost_ranks(), revoke() and agree() are the other fault-tolerance calls.
"""

import torch
import torch.distributed as _dist
import torch.distributed.distributed_c10d as _c10d

from . import _C

__all__ = ["BACKEND", "create_process_group", "shrink", "lost_ranks", "revoke", "agree"]

BACKEND = "banyan"


def create_process_group(store, rank, size, timeout):
    """The creator torch calls for init_process_group("banyan") and new_group(backend="banyan").

    A subgroup shares the default group's event loop and progress thread when that group is a
    banyan one (docs/torch.md, "Subgroups"); the default group itself is made first, alone.
    """
    family = _c10d._get_default_group() if _dist.is_initialized() else None
    return _C.create_process_group(store, rank, size, timeout, family)


def _banyan_group(group):
    pg = _c10d._get_default_group() if group is None or group is _dist.GroupMember.WORLD else group
    if pg is _dist.GroupMember.NON_GROUP_MEMBER:
        raise ValueError("banyan_torch: this rank is not a member of the group")
    return pg


def shrink(group=None):
    """A new process group of the survivors of `group` (default: the default group).

    Collective over the survivors: every rank that is still alive calls it, typically after an
    operation on `group` raised a RuntimeError naming a lost rank. It agrees on which ranks are
    gone, then builds a banyan group of the others, ranked in their old order (the lowest
    survivor serves its store, so this works when rank 0, which served torch's store, died).
    The new group has `group`'s timeout; use it like a group of new_group():
    torch.distributed collectives with group=new_group, DistributedDataParallel(...,
    process_group=new_group), get_rank(new_group) / get_world_size(new_group) (its ranks),
    get_process_group_ranks(new_group) (the survivors' global ranks), destroy_process_group.

    `group` itself stays broken, and so does the default (WORLD) group if it was the one that
    lost a rank: torch.distributed calls without group= still use it and fail. Pass the new
    group explicitly. dist.get_rank() and global ranks (src=/dst= arguments) keep their original
    numbering, as for any subgroup. monitored_barrier is not available on the new group (it has
    no c10d store); barrier is. Raises RuntimeError with banyan's message if the survivors
    cannot agree within the group's timeout, and ValueError for a group of another backend.
    """
    pg = _banyan_group(group)
    new_pg, survivors = _C.shrink(pg)
    # Registered as new_group() registers a group, so torch.distributed's group-aware calls
    # (get_rank, broadcast's src, DDP's logging) know it. Global ranks are the old group's.
    old_ranks = _c10d._pg_group_ranks.get(pg)
    to_global = {g: r for r, g in old_ranks.items()} if old_ranks else {}
    global_ranks = [to_global.get(s, s) for s in survivors]
    _c10d._pg_map[new_pg] = (_dist.Backend(BACKEND), None)
    _c10d._pg_names[new_pg] = f"banyan_shrink_{id(new_pg):x}"
    _c10d._pg_group_ranks[new_pg] = {r: i for i, r in enumerate(global_ranks)}
    return new_pg


def lost_ranks(group=None):
    """The ranks of `group` (its own numbering) this rank knows to be lost so far; not agreed
    with the others (shrink and agree do that)."""
    return _C.lost_ranks(_banyan_group(group))


def revoke(group=None):
    """Ends every pending and later operation of `group`, on every rank, with a RuntimeError
    ("banyan Aborted"). Not collective: one rank may call it to stop all the others' work on the
    group, for instance when it gives up on a step; shrink() and agree() still work afterwards."""
    _C.revoke(_banyan_group(group))


def agree(flag, group=None):
    """Fault-tolerant agreement among the survivors of `group`: every live rank calls it with
    an integer flag (0 .. 2**64-1); returns (the bitwise AND of their flags, the sorted list of
    ranks agreed to be gone), the same on every survivor."""
    return _C.agree(_banyan_group(group), int(flag))


def _register():
    # Idempotent: a second import (or a reload) must not trip register_backend's assertion.
    if BACKEND.upper() in _dist.Backend._plugins:
        return
    _dist.Backend.register_backend(BACKEND, create_process_group)


_register()
