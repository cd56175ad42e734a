"""Train many configurations at once: the members' own modules, stacked and vectorised with torch.func.

Members built by any ``model_fn`` (``build_model`` included) with the same structure form a stack: their
parameters fill one flat (M, P) buffer, a row per member, and one template module runs them all through
``vmap(functional_call(...))``, so every layer keeps its one definition; its Conv1d layers (and the Linear
layers beside them) run under vmap as one batched product over the members (``stacked_layers``), which on
CPU is much faster than vmap's own rule for them. The loss is the sum of the members' mean losses, so each
member's gradient is its own; ``members.Members`` updates the buffer with each member's settings and keeps
fit's bookkeeping.
Dropout masks and noise are drawn outside ``vmap`` from each member's generator, seeded and drawn as in
``fit``, so stochastic members follow ``fit``'s run too; other random layers draw under ``vmap``
(``randomness="different"``) from torch's global generator: ``fit``'s distribution, not its draws. A group of
such members trains alone, seeded from its first member, so that its draws do not depend on other threads.
A member that stops early or diverges is frozen: written back to its module and dropped from the stack.

``sweep`` trains here every network that ``batched.py``'s layer rules cannot run (they train the course's MLP
1.3 to 1.5 times faster on CPU: ``benchmarks/bench_engines.py``): the course's CNN and any network of a custom
``model_fn`` with other layers or its own ``forward``, each member on its own replicate's data.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from .config import Config
from .data import Dataset
from .members import Members, train_members
from .models import GaussianNoise
from .scheduling import activation_sizes
from .stacked_layers import stack_layers
from .training import EVAL_CHUNK, History

__all__ = ["StackedMembers", "train_stacked"]

def train_stacked(configs: Sequence[Config], data: Dataset | Sequence[Dataset], *, memory_budget: int | None = None,
                  workers: int | None = None, progress: Callable[[int], None] | None = None,
                  augmentation: nn.Module | None = None,
                  model_fn: Callable | None = None) -> list[tuple[History, nn.Module]]:
    """Train every configuration as a member of a stack; return ``(history, model)`` per configuration.

    Each pair is what ``fit(model_fn(config, ...), data, config)`` gives, up to float rounding. ``data`` is one
    ``Dataset`` for every member, or one per configuration (a replicate's own draw), all of the same sizes. Without
    ``model_fn``, members are ``build_model``'s, behind ``augmentation`` if given (``with_augmentation``).
    Stacks train ``workers`` at a time (default: one per usable core), the running ones estimated under
    ``memory_budget`` bytes (default 1 GiB, ``members.MEMORY_BUDGET``). ``progress(n)``: ``n`` more member-epochs
    are done (called from the workers). Ctrl-C ends training cleanly: every member keeps its history so far and,
    as in ``fit``, its best weights.
    """
    return train_members([StackedMembers], configs, data, memory_budget=memory_budget, workers=workers,
                         progress=progress, augmentation=augmentation, model_fn=model_fn)


def _replace_random_layers(module: nn.Module, replacement: Callable[[str, nn.Module], nn.Module]) -> None:
    """Put ``replacement(name, layer)`` in place of every dropout and noise layer of ``module`` (in module order)."""
    for name, layer in list(module.named_modules()):
        if isinstance(layer, (nn.Dropout, GaussianNoise)):
            parent, _, child = name.rpartition(".")
            setattr(module.get_submodule(parent), child, replacement(name, layer))


class _Drawn(nn.Module):
    """Stands in for a dropout or noise layer in the template: applies each member's draw, made outside vmap."""

    def __init__(self, site: int, draws: dict):
        super().__init__()
        self.site, self.draws = site, draws

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if "shapes" in self.draws:                    # the probe records where and how much is drawn
            self.draws["shapes"].append((self.site, tuple(x.shape)))
            return x
        if not self.training or self.draws[self.site] is None:
            return x
        kind, draw = self.draws[self.site]
        return x * draw if kind == "dropout" else x + draw


class StackedMembers(Members):
    """Members of one structure run by one template module under ``vmap``; the rest is ``Members``'."""

    @staticmethod
    def structures(networks: list[nn.Module]) -> list[list[int]]:
        """Members whose modules stack: the same layers, dropout and noise layers alike whatever their rate."""
        groups: dict[tuple, list[int]] = {}
        for i, network in enumerate(networks):
            key = tuple((name, type(m).__name__, "" if isinstance(m, (nn.Dropout, GaussianNoise)) else m.extra_repr())
                        for name, m in network.named_modules())
            groups.setdefault(key, []).append(i)
        return list(groups.values())

    @staticmethod
    def draws_globally(network: nn.Module, sample: torch.Tensor) -> bool:
        """Whether a layer other than dropout and noise (drawn per member outside vmap) draws in training."""
        probe = copy.deepcopy(network)
        _replace_random_layers(probe, lambda name, module: nn.Identity())
        with torch.random.fork_rng(), torch.no_grad():
            before = torch.get_rng_state()
            probe.train()(sample)
            return not torch.equal(before, torch.get_rng_state())

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.draws: dict = {}
        self.template = stack_layers(copy.deepcopy(self.networks[0]))   # fast rules for conv layers
        self.sites = []   # (kind, each member's layer) of every dropout or noise layer, replaced by _Drawn

        def drawn(name: str, module: nn.Module) -> _Drawn:
            layers = [dict(n.named_modules())[name] for n in self.networks]
            self.sites.append(("dropout" if isinstance(module, nn.Dropout) else "noise", layers))
            return _Drawn(len(self.sites) - 1, self.draws)
        _replace_random_layers(self.template, drawn)
        self.shapes_drawn: dict[int, list] = {}   # batch size -> [(site, shape)] in the order the forward draws
        self.step_fn = vmap(self._member_outputs, randomness="different")

    def _member_outputs(self, params, buffers, x, draws=None):
        for site, (kind, _) in enumerate(self.sites):   # read by the _Drawn layers; a site not drawn is the identity
            self.draws[site] = (kind, draws[site]) if draws and site in draws else None
        return functional_call(self.template, (params, buffers), (x,))

    def _outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        self.template.train()
        return self.step_fn(self.params, self.buffers, inputs, self._draw(inputs)).transpose(1, 2)

    def _split_outputs(self, split: str) -> torch.Tensor:
        """Member by member, in fit's slices: without vmap, a linear layer is one fused product and a
        convolution an ordinary one, which on CPU is three times faster than their vmapped forms."""
        x = self.splits[split][0]
        self.template.eval()
        return torch.stack([torch.cat([self._member_outputs(
            {name: p[row] for name, p in self.params.items()}, {name: b[row] for name, b in self.buffers.items()},
            x[data_row, i:i + EVAL_CHUNK]) for i in range(0, x.shape[1], EVAL_CHUNK)]).t()
            for row, data_row in enumerate(self._data_rows().tolist())])

    def _draw(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Each site's draws (M, *shape), each member's from its generator in the order fit's forward draws."""
        if len(x[0]) not in self.shapes_drawn:
            self.draws["shapes"] = []
            activation_sizes(self.template, x[0])
            self.shapes_drawn[len(x[0])] = self.draws.pop("shapes")
        draws = {site: self.draw(*self.sites[site], shape) for site, shape in self.shapes_drawn[len(x[0])]}
        return {site: draw for site, draw in draws.items() if draw is not None}
