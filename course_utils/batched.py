"""Train many networks at once, layer by layer over a member axis: fast rules for the layers an MLP is made of.

The members are the configurations' own modules: ``nn.Sequential`` networks whose every layer has a rule here,
the course's MLP (``build_model``) and any ``model_fn``'s network built from the same layers. Each rule runs one
layer type for every member at once, on activations laid out feature-major, (M, features, rows):

* ``Linear``: one batched product, W (M, out, in) @ h (M, in, rows);
* ``BatchNorm1d``: per member, its channels being the M × width rows of one batch norm;
* ``ReLU``, ``Tanh``, ``GELU``, ``Identity``: element-wise, in place where autograd allows;
* ``Dropout``, ``GaussianNoise``: each member's own draw (``Members.draw``), applied element-wise;
* ``Flatten``, first: the inputs are read flat.

The network itself keeps its one definition, its module: the rules read its layers, their sizes and settings.
On CPU this trains the course's MLP 1.3 to 1.5 times faster per model than ``stacked.py``'s ``vmap`` of the
same modules (``benchmarks/bench_engines.py``); networks with other layers, the course's CNN among them, train
there.
``members.Members`` does the rest for both engines: each member's batches, optimizer step and bookkeeping as
``fit`` would run them, so even stochastic members follow ``fit``'s run; the runs differ only by float rounding
(batched vs. single matrix products), which the tests bound. A member's run is bit for bit the same whatever
group it lands in (the flat buffer's rows are padded, and evaluation slices do not depend on the group's size),
so results do not depend on the number of cores.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import Config
from .data import Dataset
from .members import Members, train_members
from .models import GaussianNoise
from .stacked_layers import member_linear
from .training import History

__all__ = ["LayeredMembers", "can_train_batched", "train_batched"]

EVAL_FLOATS = 1 << 15   # evaluation runs in slices of samples whose widest activation (per member) fits this

# In place where autograd allows it (relu and tanh save their output, not their input): fewer allocations.
_IN_PLACE = {nn.ReLU: torch.relu_, nn.Tanh: torch.tanh_}
_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.Identity)
_RANDOM = (nn.Dropout, GaussianNoise)


def train_batched(configs: Sequence[Config], data: Dataset | Sequence[Dataset], *, memory_budget: int | None = None,
                  workers: int | None = None, progress: Callable[[int], None] | None = None,
                  augmentation: nn.Module | None = None,
                  model_fn: Callable | None = None) -> list[tuple[History, nn.Module]]:
    """Train every configuration as a member of a batch; return ``(history, model)`` per configuration.

    Each pair is what ``fit(model_fn(config, ...), data, config)`` gives, up to float rounding: the same history
    fields, early stopping and restoring of the best weights per member, and the module holding the trained
    weights. ``data`` is one ``Dataset`` for every member, or one per configuration (a replicate's own draw), all
    of the same sizes. Without ``model_fn``, members are ``build_model``'s, behind ``augmentation`` if given
    (layers of ``course_utils.augment``, see ``can_transform``; each member draws from its own generator, in the
    order ``fit`` draws). Every network must pass ``can_train_batched``; ``train_stacked`` takes any other.

    Members train in groups, ``workers`` groups at a time (default: one per core this process may use,
    ``usable_cores``), each worker on one core, the running groups estimated under ``memory_budget`` bytes
    (default 1 GiB, ``members.MEMORY_BUDGET``). ``progress(n)``, if given, is called (from the workers) whenever
    ``n`` more member-epochs are done; a member that stops early counts all its epochs then. Ctrl-C ends training
    cleanly: every member keeps its history so far (and, as in ``fit``, its best weights), marked ``interrupted``.
    """
    return train_members([LayeredMembers], configs, data, memory_budget=memory_budget, workers=workers,
                         progress=progress, augmentation=augmentation, model_fn=model_fn)


def can_train_batched(network: nn.Module) -> tuple[bool, str]:
    """Whether ``train_batched`` has a rule for every layer of ``network``, and why (not)."""
    try:
        _leaves(network)
    except ValueError as reason:
        return False, str(reason)
    return True, f"{type(network).__name__}: a sequence of layers train_batched runs"


def _leaves(network: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, module) of every layer, in order; ValueError if a layer has no rule here."""
    if not isinstance(network, nn.Sequential):
        raise ValueError(f"train_batched runs nn.Sequential networks; {type(network).__name__} computes its own "
                         "forward: train it with train_stacked")
    leaves = [(name, m) for name, m in network.named_modules() if not isinstance(m, nn.Sequential)]
    for position, (name, m) in enumerate(leaves):
        kind = type(m)
        if kind is nn.Flatten and position == 0 and (m.start_dim, m.end_dim) == (1, -1):
            continue
        if kind is nn.BatchNorm1d and not (m.affine and m.track_running_stats and m.momentum is not None):
            raise ValueError(f"layer {name!r}: train_batched runs BatchNorm1d with its default affine, running "
                             "statistics and momentum; train it with train_stacked")
        if kind not in (nn.Linear, nn.BatchNorm1d, *_ELEMENTWISE, *_RANDOM):
            raise ValueError(f"layer {name!r} ({kind.__name__}) has no rule in train_batched, which runs "
                             "Flatten (first), Linear, BatchNorm1d, ReLU, Tanh, GELU, Identity, Dropout and "
                             "GaussianNoise; train it with train_stacked")
    return leaves


def _program(networks: Sequence[nn.Module]) -> list[tuple[str, object]]:
    """The steps of a forward pass for every member: (kind, what) with kind one of ``flatten``, ``linear``,
    ``norm`` (a batch norm, with the in-place activation that follows it, if any), ``activation``, and
    ``dropout`` or ``noise`` (each member's layer there, or None where it has none).

    Members share their other layers; where their dropout and noise layers differ, their draws are matched
    by kind and order between two shared layers, as each member's own forward pass draws them.
    """
    fixed, gaps = zip(*(_split(_leaves(n)) for n in networks))
    if len({_shape(layers) for layers in fixed}) > 1:
        raise ValueError("the members' networks differ in layers other than dropout and noise: "
                         "group them by architecture first")
    keys = [[_keys(gap) for gap in member_gaps] for member_gaps in gaps]
    steps: list[tuple[str, object]] = []
    for position, order in enumerate(_draw_orders(keys)):
        for key in order:
            steps.append(("dropout" if key[0] is nn.Dropout else "noise",
                          [dict(zip(member_keys[position], member_gaps[position])).get(key)
                           for member_keys, member_gaps in zip(keys, gaps)]))
        if position < len(fixed[0]):
            steps.append(_step(*fixed[0][position]))
    return _fuse(steps)


def _draw_orders(keys: Sequence[Sequence[list]]) -> list[list[tuple[type, int]]]:
    """For each gap between shared layers, one order of the random layers that keeps every member's own
    order (``keys[member][gap]``); ValueError if the members' orders contradict each other."""
    orders = []
    for position in range(len(keys[0])):
        queues, order = [list(member[position]) for member in keys], []
        while any(queues):
            ready = [key for key in dict.fromkeys(q[0] for q in queues if q) if all(key not in q[1:] for q in queues)]
            if not ready:
                raise ValueError("the members draw their dropout and noise in different orders")
            order.append(ready[0])
            queues = [q[1:] if q and q[0] == ready[0] else q for q in queues]
        orders.append(order)
    return orders


def _agree(keys: Sequence[Sequence[list]]) -> bool:
    try:
        _draw_orders(keys)
    except ValueError:
        return False
    return True


def _shape(layers: list[tuple[str, nn.Module]]) -> tuple:
    """What members of one group must share: the type and settings of every layer."""
    return tuple((type(m).__name__, m.extra_repr()) for _, m in layers)


def _split(leaves: list[tuple[str, nn.Module]]) -> tuple[list, list[list[nn.Module]]]:
    """The shared layers, and the random layers before, between and after them (one list per gap)."""
    fixed, gaps = [], [[]]
    for name, m in leaves:
        if type(m) in _RANDOM:
            gaps[-1].append(m)
        else:
            fixed.append((name, m))
            gaps.append([])
    return fixed, gaps


def _keys(layers: list[nn.Module]) -> list[tuple[type, int]]:
    """(kind, how many of that kind came before) of each random layer in one gap."""
    seen: dict[type, int] = {}
    keys = []
    for m in layers:
        keys.append((type(m), seen.get(type(m), 0)))
        seen[type(m)] = keys[-1][1] + 1
    return keys


def _step(name: str, m: nn.Module) -> tuple[str, object]:
    if isinstance(m, nn.Flatten):
        return "flatten", None
    if isinstance(m, nn.Linear):
        return "linear", name
    if isinstance(m, nn.BatchNorm1d):
        return "norm", (name, m, None)
    return "activation", m


def _fuse(steps: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """A batch norm takes the in-place activation after it: applied before the norm's output is viewed
    per member (in place on a view, autograd would copy it)."""
    fused: list[tuple[str, object]] = []
    for kind, what in steps:
        if kind == "activation" and type(what) in _IN_PLACE and fused and fused[-1][0] == "norm":
            name, norm, _ = fused[-1][1]
            fused[-1] = ("norm", (name, norm, _IN_PLACE[type(what)]))
        else:
            fused.append((kind, what))
    return fused


class LayeredMembers(Members):
    """Members run by this module's rules, layer by layer; the rest is ``Members``'."""

    accepts = staticmethod(can_train_batched)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.program = _program(self.networks)
        self.counters = [name for name in self.buffers if name.endswith("num_batches_tracked")]
        widths = [m.out_features for _, m in _leaves(self.networks[0]) if isinstance(m, nn.Linear)]
        self.widest = max(widths) if widths else self.splits["train"][0][0, 0].numel()   # activations per sample

    @staticmethod
    def structures(networks: list[nn.Module]) -> list[list[int]]:
        """Members whose layers, dropout and noise apart, are the same, sizes and settings too, and whose
        dropout and noise layers come in orders that agree."""
        groups: list[tuple[tuple, list, list[int]]] = []   # (shared layers, members' draw orders, members)
        for i, network in enumerate(networks):
            fixed, gaps = _split(_leaves(network))
            shape, keys = _shape(fixed), [_keys(gap) for gap in gaps]
            for group_shape, orders, members in groups:
                if group_shape == shape and _agree(orders + [keys]):
                    orders.append(keys)
                    members.append(i)
                    break
            else:
                groups.append((shape, [keys], [i]))
        return [members for _, _, members in groups]

    def _outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """A training batch's outputs (M, outputs, B) from each member's inputs (M, B, ...)."""
        for name in self.counters:   # batch norm counts the batches it has seen, as in fit's forward
            self.buffers[name] += 1
        return self._forward(inputs.reshape(*inputs.shape[:2], -1).transpose(1, 2), training=True)

    def _split_outputs(self, split: str) -> torch.Tensor:
        """A whole split's eval-mode outputs (M, outputs, n), in slices small enough to stay in cache."""
        x = self.splits[split][0]
        x = x.reshape(*x.shape[:2], -1)
        shared, rows = len(x) == 1, self._data_rows()
        step = max(32, EVAL_FLOATS // self.widest)   # small slices stay in cache; the same for any M
        parts = [self._forward(x[0, i:i + step] if shared else x[rows, i:i + step].transpose(1, 2), training=False)
                 for i in range(0, x.shape[1], step)]
        return torch.cat(parts, dim=2)

    def _forward(self, h: torch.Tensor, training: bool) -> torch.Tensor:
        """Outputs (M, outputs, rows) from inputs (M, features, rows), or from (rows, features) shared by every
        member in evaluation, whose first linear layer is then one (M·out, in) @ (in, rows) product."""
        tensors = {**self.params, **self.buffers}
        fresh = False   # whether h is this pass's own tensor, which an activation may overwrite
        for kind, what in self.program:
            if kind == "flatten" or kind in ("dropout", "noise") and not training:
                continue
            if kind == "linear":
                weight, bias = tensors[f"{what}.weight"], tensors.get(f"{what}.bias")
                if h.ndim == 2:   # evaluation on a shared input
                    flat = weight.reshape(-1, weight.shape[-1])
                    out = flat @ h.t() if bias is None else torch.addmm(bias.reshape(-1, 1), flat, h.t())
                    h = out.view(len(weight), -1, len(h))
                else:
                    h = member_linear(h, weight, bias)
                fresh = True
                continue
            if h.ndim == 2:   # a shared input reaching another layer first: every member's view of it
                h = h.t().expand(len(self.active), -1, -1)
            if kind in ("dropout", "noise"):
                draws = self.draw(kind, what, (h.shape[2], h.shape[1]))   # (M, rows, features), as fit draws them
                if draws is not None:
                    h = h * draws.transpose(1, 2) if kind == "dropout" else h + draws.transpose(1, 2)
                    fresh = True
            elif kind == "norm":
                name, norm, activation = what
                out = F.batch_norm(h.reshape(1, -1, h.shape[2]), tensors[f"{name}.running_mean"].view(-1),
                                   tensors[f"{name}.running_var"].view(-1), tensors[f"{name}.weight"].reshape(-1),
                                   tensors[f"{name}.bias"].reshape(-1), training, norm.momentum, norm.eps)
                h = (out if activation is None else activation(out)).view(h.shape)
                fresh = False   # a view of the norm's output
            else:
                out = _IN_PLACE[type(what)](h) if fresh and type(what) in _IN_PLACE else what(h)
                h, fresh = out, fresh or out is not h   # Identity hands back its input
        return h
