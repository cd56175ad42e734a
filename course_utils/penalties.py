"""L1, L2 and elastic-net penalties, and which parameters they apply to.

By convention only weight matrices and conv kernels (tensors with 2+ dimensions)
are penalized: biases and normalization scales/shifts are left alone, since
shrinking them limits no capacity and can hurt. Weight matrices that feed a
batch-norm layer are penalized too, although they are scale-invariant: decay on
them raises their effective learning rate rather than limiting capacity, and
notebook 07 measured that leaving them out is not better in general (leaving
them out helped at a large learning rate and hurt at a small one).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from .validation import check_nonnegative

__all__ = ["penalized_parameters", "l1_penalty", "l2_penalty", "elastic_net_penalty", "parameter_groups"]


def penalized_parameters(model: nn.Module, include_biases: bool = False) -> list[torch.Tensor]:
    """The parameters a penalty or weight decay should touch."""
    return [p for p in model.parameters() if p.requires_grad and (include_biases or p.ndim >= 2)]


def l1_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """sum |w| over all given tensors."""
    return sum(p.abs().sum() for p in params)


def l2_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """1/2 · sum w² over all given tensors: its gradient is w, so λ·l2 matches SGD's weight_decay=λ."""
    return 0.5 * sum(p.pow(2).sum() for p in params)


def elastic_net_penalty(params: Iterable[torch.Tensor], l1: float, l2: float) -> torch.Tensor:
    """l1 · sum|w| + l2/2 · sum w²; either strength may be zero."""
    check_nonnegative(l1, "l1")
    check_nonnegative(l2, "l2")
    params = list(params)
    total = torch.zeros(())
    if l1:
        total = total + l1 * l1_penalty(params)
    if l2:
        total = total + l2 * l2_penalty(params)
    return total


def parameter_groups(model: nn.Module, weight_decay: float, include_biases: bool = False) -> list[dict]:
    """Optimizer groups: decay on the penalized parameters, none on the rest."""
    check_nonnegative(weight_decay, "weight_decay")
    decayed = {id(p) for p in penalized_parameters(model, include_biases)}
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if id(p) in decayed], "weight_decay": weight_decay},
            {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0}]
