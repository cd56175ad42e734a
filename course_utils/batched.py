"""Train many configurations of the course's MLP at once, with hand-written batched layers.

A sweep of M configurations that share an architecture and a schedule is run as a single network whose
every tensor has a leading member axis of size M:

* a layer is one batched product, W (M, out, in) @ h (M, in, batch), in a feature-major layout;
* batch norm runs per member: its channels are the M × width rows.

These layers are the course's MLP of ``models.py`` written a second time, for speed: on CPU they train it
about 1.5 times faster per model than ``stacked.py``'s vmapped modules (``benchmarks/bench_engines.py``).
Every other network, the course's CNN included, trains stacked.
``members.Members`` does the rest, as for the stacked engine: each member's batches, optimizer step and
bookkeeping as ``fit`` would run them. Its dropout masks and input noise come from its own generator, seeded
as ``fit`` seeds the global one and drawn in the same order and shapes, so even stochastic members follow
``fit``'s run; the runs differ only by float rounding (batched vs. single matrix products), which the tests
bound. A member's run is bit for bit the same whatever chunk it lands in (the flat buffer's rows are padded,
and evaluation slices do not depend on the chunk's size), so results do not depend on the number of cores.
Memory is bounded: the running chunks' estimated size (``estimate_member_bytes``) stays under ``MEMORY_BUDGET``.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .augment import with_augmentation
from .config import Config
from .data import Dataset
from .members import Members, balanced_chunks, check_members, member_bytes, model_sizes, run_groups, stack_splits
from .training import History

__all__ = ["train_batched"]

MEMORY_BUDGET = 1 << 30   # bytes one chunk of members may use (estimated); larger sweeps are split
EVAL_FLOATS = 1 << 15     # evaluation runs in slices of samples whose widest activation (per member) fits this

BN_MOMENTUM, BN_EPS = 0.1, 1e-5            # torch.nn.BatchNorm1d defaults
# In place where autograd allows it (relu and tanh save their output, not their input): fewer allocations.
_ACTIVATIONS = {"relu": torch.relu_, "tanh": torch.tanh_, "gelu": F.gelu}


def train_batched(configs: Sequence[Config], data: Dataset, *, memory_budget: int | None = None,
                  workers: int | None = None, progress: Callable[[int], None] | None = None,
                  augmentation: nn.Module | None = None) -> list[tuple[History, nn.Module]]:
    """Train every configuration as a member of one stacked model; return ``(history, model)`` per config.

    Each pair is what ``fit(build_model(config, ...), data, config)`` gives,
    up to float rounding: the same history fields, the same early stopping
    and restoring of the best weights per member, and a regular module built
    by ``build_model`` holding the trained weights. The configurations must
    pass ``can_batch``.

    Members are trained in chunks, ``workers`` chunks at a time (default: one
    per CPU core this process may use, ``usable_cores``), each worker on one core; a member's
    run is bit for bit the same in any chunk, so the results do not depend on
    the number of workers. Chunks are sized so that the estimated memory of
    the running chunks stays under ``memory_budget`` (default
    ``MEMORY_BUDGET``) bytes.

    ``augmentation`` (layers of ``course_utils.augment``, see ``can_transform``)
    trains every member as ``with_augmentation(augmentation)`` builds it, layer
    in front of the network; each member's draws come from its own generator,
    in the order ``fit`` draws them.

    ``progress(n)``, if given, is called (from the worker threads) whenever
    ``n`` more member-epochs are done; a member that stops early counts all
    its epochs then, so the calls add up to the configurations' epochs.

    Ctrl-C ends training cleanly: every member keeps its history so far (and,
    as in ``fit``, its best weights); all histories are marked ``interrupted``.
    """
    configs, datasets, budget, workers = check_members(configs, data, augmentation, memory_budget, workers,
                                                       MEMORY_BUDGET)
    if configs[0].model != "mlp":
        raise ValueError(f"train_batched trains the course's MLP; a {configs[0].model!r} trains with train_stacked")
    if len({id(d) for d in datasets}) > 1:
        raise ValueError("train_batched trains every member on one Dataset; train_stacked takes one per configuration")
    data = datasets[0]
    spec = _Spec.of(configs[0], data)
    splits = stack_splits([data])
    build = with_augmentation(augmentation)
    workers = min(workers, len(configs))
    models = [build(c, spec.n_inputs, spec.n_outputs) for c in configs]   # reseeds the global RNG
    per_member = member_bytes(models[0], configs[0], data)   # members differ in nothing that costs memory
    size = max(1, min(math.ceil(len(configs) / workers), budget // (per_member * workers)))
    histories = [History() for _ in configs]

    def train(chunk: list[int], stop: threading.Event) -> None:
        _Batch([configs[i] for i in chunk], [models[i] for i in chunk], [histories[i] for i in chunk],
               spec, splits, stop, progress, augmentation).run()

    run_groups(balanced_chunks(range(len(configs)), size), train, workers, histories)
    return list(zip(histories, models))


@dataclass(frozen=True)
class _Spec:
    """What every member shares: the architecture, the task and the schedule."""

    model: str
    hidden: tuple[int, ...]
    activation: str
    batch_norm: bool
    optimizer: str
    batch_size: int
    epochs: int
    label_smoothing: float
    n_inputs: int
    n_outputs: int
    classification: bool

    @classmethod
    def of(cls, config: Config, data: Dataset) -> "_Spec":
        return cls(config.model, config.hidden, config.activation, config.batch_norm, config.optimizer,
                   config.batch_size, config.epochs, config.label_smoothing, *model_sizes(data),
                   data.is_classification)

    def widest(self) -> int:
        """The largest number of activations per sample in one layer (outputs included)."""
        return max([*self.hidden, self.n_outputs])


class _Batch(Members):
    """Members of the course's MLP run by hand-written batched layers; the rest is ``Members``'."""

    def __init__(self, configs, models, histories, spec: _Spec, splits, stop: threading.Event,
                 progress: Callable[[int], None] | None = None, augmentation: nn.Module | None = None):
        self.spec = spec
        template = models[0][1] if augmentation is not None else models[0]
        self.layer_names = [(f"{name}.weight", f"{name}.bias") for name, m in template.named_modules()
                            if isinstance(m, nn.Linear)]
        self.norm_names = [tuple(f"{name}.{t}" for t in ("weight", "bias", "running_mean", "running_var"))
                           for name, m in template.named_modules() if isinstance(m, nn.BatchNorm1d)]
        self.counters = [f"{name}.num_batches_tracked" for name, m in template.named_modules()
                         if isinstance(m, nn.BatchNorm1d)]
        super().__init__(configs, models, histories, splits, stop, progress, augmentation)

    def _bind(self) -> None:
        """Also the layers' stacked tensors, in the order the forward pass reads them, and the random sites."""
        super()._bind()
        tensors = {**self.params, **self.buffers}
        self.layers = [(tensors[w], tensors[b]) for w, b in self.layer_names]
        self.norms = [tuple(tensors[name] for name in names) for names in self.norm_names]
        configs = [self.configs[r] for r in self.active]

        # Random sites in the order fit's modules draw from the RNG: input noise, input dropout, then one
        # dropout per hidden layer. Each site lists (row, generator, rate) of the members using it.
        def site(rates):
            return [(row, self.generators[member], rate)
                    for row, (member, rate) in enumerate(zip(self.active, rates)) if rate > 0]
        self.noise_site = site([c.input_noise for c in configs])
        self.input_dropout_site = site([c.input_dropout for c in configs])
        self.dropout_site = site([c.dropout for c in configs])

    # ------------------------------------------------------------ random draws

    def _draw(self, site, shape, fill, draw) -> torch.Tensor | None:
        """Per-member random tensors for one random site: (M, *shape), ``fill`` where unused."""
        if not site:
            return None
        out = torch.full((len(self.active), *shape), fill)
        for row, generator, rate in site:
            draw(out[row], generator, rate)
        return out

    def _noise(self, shape) -> torch.Tensor | None:
        def draw(t, generator, std):
            t.normal_(generator=generator).mul_(std)       # fit: x + std * randn_like(x)
        return self._draw(self.noise_site, shape, 0.0, draw)

    def _mask(self, site, shape) -> torch.Tensor | None:
        def draw(t, generator, p):
            t.bernoulli_(1 - p, generator=generator).div_(1 - p)   # as torch's dropout on CPU
        return self._draw(site, shape, 1.0, draw)

    # ------------------------------------------------------------ forward passes

    def _outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """A training batch's outputs (M, n_outputs, B) from each member's inputs (M, B, ...)."""
        for name in self.counters:   # batch norm counts the batches it has seen, as in fit's forward
            self.buffers[name] += 1
        return self._forward_mlp(inputs.reshape(*inputs.shape[:2], -1).transpose(1, 2), training=True)

    def _split_outputs(self, split: str) -> torch.Tensor:
        """A whole split's eval-mode outputs (M, n_outputs, n), in slices small enough to stay in cache."""
        x = self.splits[split][0][0]   # one copy, read by every member
        x = x.reshape(len(x), -1)
        weight, bias = self.layers[0]   # every slice reuses the first layer's weights, stacked as one matrix
        first = (weight.detach().reshape(-1, weight.shape[-1]), bias.detach().reshape(-1, 1))
        outputs = torch.empty(len(self.active), self.spec.n_outputs, len(x))
        rows = max(32, EVAL_FLOATS // self.spec.widest())   # small slices stay in cache; the same for any M
        for start in range(0, len(x), rows):
            outputs[:, :, start:start + rows] = self._forward_mlp(x[start:start + rows], training=False, first=first)
        return outputs

    def _forward_mlp(self, x, training, first=None):
        # Activations are feature-major, (M, features, rows): a layer is W (M, out, in) @ h (M, in, rows),
        # batch norm normalises the last axis and cross-entropy reads classes on axis 1.
        # training: x (M, n_inputs, B), one batch per member; eval: x (R, n_inputs) shared by all members,
        # whose first layer is one (M·out, in) @ (in, R) product with ``first`` = (weights, biases) stacked.
        activation = _ACTIVATIONS[self.spec.activation]
        M = len(self.active)
        if training:
            B = x.shape[2]
            noise = self._noise((B, x.shape[1]))                   # drawn (B, features) as fit draws them
            if noise is not None:
                x = x + noise.transpose(1, 2)
            mask = self._mask(self.input_dropout_site, (B, x.shape[1]))
            if mask is not None:
                x = x * mask.transpose(1, 2)
        h = x
        for k, (weight, bias) in enumerate(self.layers):
            if k == 0 and not training:
                h = torch.addmm(first[1], first[0], h.t()).view(M, -1, len(h))
            else:
                h = torch.baddbmm(bias.unsqueeze(2), weight, h)
            if k == len(self.layers) - 1:
                return h
            if self.norms:   # activated before it is viewed: in place on a view, autograd would copy it
                gamma, beta, mean, var = self.norms[k]
                h = activation(F.batch_norm(h.view(1, -1, h.shape[2]), mean.view(-1), var.view(-1),
                                            gamma.reshape(-1), beta.reshape(-1), training, BN_MOMENTUM,
                                            BN_EPS)).view(h.shape)
            else:
                h = activation(h)
            if training:
                mask = self._mask(self.dropout_site, (h.shape[2], h.shape[1]))
                if mask is not None:
                    h = h * mask.transpose(1, 2)
