"""The max-norm constraint: after each update, every unit's incoming weights are projected back to norm ≤ c.

Srivastava et al. (2014, §5.1) trained dropout networks with it: a unit whose
incoming weight vector w (a row of a Linear weight, an output channel's kernel
of a Conv1d) grew longer than c is rescaled to w · c/‖w‖₂; shorter vectors are
left alone. Unlike an L2 penalty it never pulls small weights toward zero, but
it bounds their size however large the learning rate, which is why it let them
train with large learning rates. ``fit`` and the batched engine both call
``max_norm_`` after every optimizer step when ``Config.max_norm`` is set.
"""
from __future__ import annotations

from numbers import Real

import torch

from .validation import check_number

__all__ = ["max_norm_"]


@torch.no_grad()
def max_norm_(weight: torch.Tensor, c: float | torch.Tensor, batch_dims: int = 0) -> torch.Tensor:
    """Rescale, in place, each unit's incoming weight vector longer than ``c`` to norm ``c``; return ``weight``.

    ``weight`` has shape ``(*batch, units, *fan_in)``: a Linear weight ``(out, in)``, a Conv1d kernel
    ``(out, in, k)``, or ``batch_dims`` leading axes of such tensors stacked (the batched engine's members).
    A unit's incoming vector is everything after its index, so a kernel is one vector per output channel.
    ``c`` is a positive number, or a tensor of the batch shape with one bound per stacked tensor
    (``inf`` leaves that one unconstrained).
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor; got {type(weight).__name__}")
    if isinstance(batch_dims, bool) or not isinstance(batch_dims, int) or not 0 <= batch_dims <= weight.ndim - 2:
        raise ValueError(f"batch_dims must be an integer from 0 to weight.ndim - 2 = {weight.ndim - 2} (a unit "
                         f"needs its index and at least one incoming weight); got {batch_dims!r}")
    batch_shape = weight.shape[:batch_dims]
    if isinstance(c, Real):
        check_number(c, "c", low=0.0, low_inclusive=False)
    elif not isinstance(c, torch.Tensor) or c.shape != batch_shape or not bool((c > 0).all()):
        raise ValueError(f"c must be a positive number or a tensor of positive bounds of shape "
                         f"{tuple(batch_shape)} (one per stacked tensor); got {c!r:.80}")
    norms = torch.linalg.vector_norm(weight, dim=tuple(range(batch_dims + 1, weight.ndim)), keepdim=True)
    bound = torch.as_tensor(c, dtype=weight.dtype).reshape(*batch_shape, *[1] * (weight.ndim - batch_dims))
    return weight.mul_(torch.where(norms > bound, bound / norms, 1.0))
