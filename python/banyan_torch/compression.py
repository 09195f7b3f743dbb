"""Compressed gradient allreduce for DistributedDataParallel over a banyan group.

    from banyan_torch.compression import CompressionState, compressed_allreduce_hook
    model = DistributedDataParallel(model)                     # process group of backend "banyan"
    model.register_comm_hook(CompressionState("int8"), compressed_allreduce_hook)

Each bucket's gradients are averaged by banyan's compressed allreduce (docs/numerics.md,
"Compressed allreduce"): sent as bf16, fp16 or int8 blocks with a per-block scale, summed in f32
at every step, with error feedback: what the encodings of one step drop is kept per bucket (one
banyan ErrorFeedback each, owned by the state) and sent with the next step's gradients. Float32
gradients only (banyan refuses other dtypes with a RuntimeError naming the call).
"""

import torch
import torch.distributed as dist

from . import _C

__all__ = ["CompressionState", "compressed_allreduce_hook"]


class CompressionState:
    """What compressed_allreduce_hook needs: the format ("bf16", "fp16", "int8"), whether to
    feed the residual back (error_feedback), the group (None: the default group, which must be a
    banyan group), and one residual per bucket."""

    def __init__(self, format="int8", error_feedback=True, process_group=None):
        if format not in ("bf16", "fp16", "int8"):
            raise ValueError(f"banyan_torch: compression format must be bf16, fp16 or int8, not {format!r}")
        self.format = format
        self.error_feedback = error_feedback
        self.process_group = process_group
        self._residuals = {}  # bucket index -> _C.ErrorFeedback

    def residual_for(self, index, numel):
        """The bucket's ErrorFeedback (None without error feedback); forgotten and made anew when
        DDP rebuilds its buckets and the bucket's size changes."""
        if not self.error_feedback:
            return None
        residual = self._residuals.get(index)
        if residual is None:
            residual = self._residuals[index] = _C.ErrorFeedback()
        elif len(residual) not in (0, numel):
            residual.reset()
        return residual


def compressed_allreduce_hook(state, bucket):
    """DDP comm hook: the bucket's mean gradient over the group, compressed on the wire."""
    group = state.process_group
    pg = group if group is not None else dist.distributed_c10d._get_default_group()
    tensor = bucket.buffer()
    # Divided before the sum (as PyTorch's fp16 hook does), so the sum is already the mean and
    # the residual stays in the gradients' own units.
    tensor.div_(dist.get_world_size(group))
    work = _C.compressed_allreduce(pg, tensor, state.format, state.residual_for(bucket.index(), tensor.numel()))
    return work.get_future().then(lambda fut: fut.value()[0])
