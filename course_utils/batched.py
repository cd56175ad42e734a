"""Train many configurations of the course's MLP or CNN at once, with hand-written batched layers.

A sweep of M configurations that share an architecture and a schedule is run as a single network whose
every tensor has a leading member axis of size M:

* an MLP layer is one batched product, W (M, out, in) @ h (M, in, batch), in a feature-major layout;
* a CNN layer (kernel 5, stride 2) is one such product over the im2col columns of its input, and its
  input gradient five per-tap products over views of the output gradient (``_StridedConv``), followed
  by a batched readout; on CPU this is faster than grouped convolutions;
* batch norm runs per member: its channels are the M × width rows.

These layers are the course's ``models.py`` written a second time, for speed: on CPU they train the course's
networks 1.4 to 2.2 times faster per model than ``stacked.py``'s vmapped modules (``benchmarks/bench_engines.py``).
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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .augment import with_augmentation
from .config import Config
from .data import Dataset
from .members import Members, balanced_chunks, check_members, run_groups, stack_splits
from .models import build_model
from .training import History

__all__ = ["estimate_member_bytes", "train_batched"]

MEMORY_BUDGET = 1 << 30   # bytes one chunk of members may use (estimated); larger sweeps are split
EVAL_FLOATS = 1 << 15     # evaluation runs in slices of samples whose widest activation (per member) fits this

BN_MOMENTUM, BN_EPS = 0.1, 1e-5            # torch.nn.BatchNorm1d defaults
# In place where autograd allows it (relu and tanh save their output, not their input): fewer allocations.
_ACTIVATIONS = {"relu": torch.relu_, "tanh": torch.tanh_, "gelu": F.gelu}


def estimate_member_bytes(config: Config, data: Dataset) -> int:
    """A generous estimate of the memory one member of a batch needs, in bytes.

    Counted: its parameters about eight times over (stacked weights, their
    gradient and its flat copy, two optimizer moments, update temporaries, its
    own module and its best weights); its shuffled copy of the training set;
    the activations of one training step (about ten tensors per hidden unit
    and sample: outputs, normalised values, masks and their gradients); and the
    activations of one evaluation slice of the largest split.
    """
    spec = _Spec.of(config, data)
    n_params = sum(p.numel() for p in _template(config, spec).parameters())
    n_train = len(data.x_train)
    units = spec.hidden_units()                       # activations per sample, all hidden layers
    largest_split = max(len(x) for x in (data.x_train, data.x_val, data.x_test) if x is not None)
    eval_rows = min(largest_split, max(1, EVAL_FLOATS // spec.widest()))
    per_sample_in = spec.n_inputs + spec.n_outputs
    floats = (8 * n_params
              + n_train * (spec.n_inputs + 2)                              # shuffled inputs and targets
              + config.batch_size * (10 * units + 4 * per_sample_in)       # one training step
              + eval_rows * 3 * spec.widest()                              # one evaluation slice
              + largest_split * 4 * spec.n_outputs)                        # outputs, loss and accuracy of a split
    return 4 * floats


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
    if len({id(d) for d in datasets}) > 1:
        raise ValueError("train_batched trains every member on one Dataset; train_stacked takes one per configuration")
    data = datasets[0]
    spec = _Spec.of(configs[0], data)
    splits = stack_splits([data])
    workers = min(workers, len(configs))
    per_member = estimate_member_bytes(configs[0], data)   # members differ in nothing that costs memory
    size = max(1, min(math.ceil(len(configs) / workers), budget // (per_member * workers)))
    build = with_augmentation(augmentation)
    models = [build(c, spec.n_inputs, spec.n_outputs) for c in configs]   # reseeds the global RNG
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
    n_inputs: int            # features (MLP) or sequence length (CNN)
    n_outputs: int
    classification: bool

    @classmethod
    def of(cls, config: Config, data: Dataset) -> "_Spec":
        y = data.y_train
        n_outputs = data.n_classes if data.is_classification else (y.shape[1] if y.ndim == 2 else 1)
        return cls(config.model, config.hidden, config.activation, config.batch_norm, config.optimizer,
                   config.batch_size, config.epochs, config.label_smoothing,
                   int(np.prod(data.x_train.shape[1:])), n_outputs, data.is_classification)

    def widest(self) -> int:
        """The largest number of activations per sample in one layer (outputs included)."""
        return max(self.layer_units() + [self.n_outputs])

    def layer_units(self) -> list[int]:
        """Activations per sample of each hidden layer."""
        if self.model == "mlp":
            return list(self.hidden)
        length, units = self.n_inputs, []
        for channels in self.hidden:
            length = (length - 1) // 2 + 1
            units.append(channels * length)
        return units

    def hidden_units(self) -> int:
        """Activations per sample summed over the hidden layers."""
        return sum(self.layer_units())


def _template(config: Config, spec: _Spec) -> nn.Module:
    with torch.random.fork_rng():  # counting parameters must not move the global RNG
        return build_model(config, spec.n_inputs, spec.n_outputs)


class _Batch(Members):
    """Members of the course's MLP or CNN run by hand-written batched layers; the rest is ``Members``'."""

    def __init__(self, configs, models, histories, spec: _Spec, splits, stop: threading.Event,
                 progress: Callable[[int], None] | None = None, augmentation: nn.Module | None = None):
        self.spec = spec
        template = models[0][1] if augmentation is not None else models[0]
        self.layer_names = [(f"{name}.weight", f"{name}.bias") for name, m in template.named_modules()
                            if isinstance(m, (nn.Linear, nn.Conv1d))]
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
        x = inputs.reshape(*inputs.shape[:2], -1)
        if self.spec.model == "cnn":
            return self._forward_cnn(x, training=True)
        return self._forward_mlp(x.transpose(1, 2), training=True)

    def _split_outputs(self, split: str) -> torch.Tensor:
        """A whole split's eval-mode outputs (M, n_outputs, n), in slices small enough to stay in cache."""
        x = self.splits[split][0][0]   # one copy, read by every member
        x = x.reshape(len(x), -1)
        first = None
        if self.spec.model == "mlp":   # every slice reuses the first layer's weights, stacked as one matrix
            weight, bias = self.layers[0]
            first = (weight.detach().reshape(-1, weight.shape[-1]), bias.detach().reshape(-1, 1))
        outputs = torch.empty(len(self.active), self.spec.n_outputs, len(x))
        rows = max(32, EVAL_FLOATS // self.spec.widest())   # small slices stay in cache; the same for any M
        for start in range(0, len(x), rows):
            part = x[start:start + rows]
            outputs[:, :, start:start + rows] = (self._forward_cnn(part, training=False) if first is None else
                                                 self._forward_mlp(part, training=False, first=first))
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
            if k == 0 and first is not None:
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

    def _forward_cnn(self, x, training):
        # Activations are (M, channels, length, rows): positions outer and the batch's rows inner, so that
        # every tap of a conv layer reads a contiguous block (_StridedConv) and the readout a plain view.
        # training: x (M, B, L), one batch per member; eval: x (R, L) shared by all members.
        activation = _ACTIVATIONS[self.spec.activation]
        M = len(self.active)
        if training:
            noise = self._noise(x.shape[1:])                       # each member's (B, L), like fit's (B, 1, L)
            if noise is not None:
                x = x + noise
            h = x.transpose(1, 2).unsqueeze(1)                     # (M, 1, L, B)
        else:
            h = x.t().unsqueeze(0).unsqueeze(0)                   # (1, 1, L, R): one input for all members
        for k, (weight, bias) in enumerate(self.layers[:-1]):
            h = _conv(h, weight, bias)                             # (M, out, L', rows)
            _, channels, length, rows = h.shape
            if self.norms:   # activated before it is viewed: in place on a view, autograd would copy it
                gamma, beta, mean, var = self.norms[k]
                h = activation(F.batch_norm(h.view(1, M * channels, -1), mean.view(-1), var.view(-1),
                                            gamma.reshape(-1), beta.reshape(-1), training, BN_MOMENTUM,
                                            BN_EPS)).view(h.shape)
            else:
                h = activation(h)
            if training:
                mask = self._mask(self.dropout_site, (rows, channels, length))   # drawn (B, C, L') as fit's
                if mask is not None:
                    h = h * mask.permute(0, 2, 3, 1)
        weight, bias = self.layers[-1]
        features = h.reshape(M, -1, h.shape[3])                    # (M, C·L', rows), flattened as fit's
        return torch.baddbmm(bias.unsqueeze(2), weight, features)


def _columns(h: torch.Tensor) -> torch.Tensor:
    """The im2col matrix of Conv1d(kernel 5, stride 2, padding 2): h (M, C, L, rows) -> (M, 5·C, L'·rows).

    Row k·C + c, column l·rows + r holds h[:, c, 2l + k - 2, r] (zero in the padding), L' = (L - 1) // 2 + 1:
    each tap is one strided copy of the input, and only the padded edges are zeroed.
    """
    M, C, L, rows = h.shape
    length = (L - 1) // 2 + 1
    columns = h.new_empty(M, 5, C, length, rows)
    for k in range(5):
        first = 1 if k < 2 else 0                          # the first output position whose input is not padding
        last = min(length - 1, (L + 1 - k) // 2)           # and the last
        n = max(0, last - first + 1)
        if first:
            columns[:, k, :, :first].zero_()
        if first + n < length:
            columns[:, k, :, first + n:].zero_()
        if n:
            start = 2 * first + k - 2
            columns[:, k, :, first:first + n] = h[:, :, start:start + 2 * n - 1:2]
    return columns.view(M, 5 * C, length * rows)


def _conv(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Each member's Conv1d(kernel 5, stride 2, padding 2): h (M or 1, in, L, rows) -> (M, out, L', rows).

    An input shared by every member (evaluation's first layer) is read once by all of them.
    """
    if len(h) < len(weight):
        M, channels, inputs = weight.shape[:3]
        columns = _columns(h)[0]
        flat = weight.permute(0, 1, 3, 2).reshape(M * channels, 5 * inputs)
        out = torch.addmm(bias.reshape(-1, 1), flat, columns)
        return out.view(M, channels, (h.shape[2] - 1) // 2 + 1, -1)
    return _StridedConv.apply(h, weight, bias)


class _StridedConv(torch.autograd.Function):
    """Per-member Conv1d(kernel 5, stride 2, padding 2) as one batched product over im2col columns.

    h (M, in, L, rows), weight (M, out, in, 5), bias (M, out) -> (M, out, L', rows). The forward and the
    weight gradient are each one product over ``_columns(h)`` (K = 5·in, where five per-tap products
    with K = in run at about half the rate). The input gradient is the transposed convolution as five
    per-tap products over views of the zero-guarded output gradient: even input positions from taps
    0, 2, 4 and odd ones from taps 1, 3, so nothing is scattered back as col2im would.
    """

    @staticmethod
    def forward(ctx, h, weight, bias):
        M, channels, inputs = weight.shape[:3]
        length = (h.shape[2] - 1) // 2 + 1
        columns = _columns(h)
        flat = weight.permute(0, 1, 3, 2).reshape(M, channels, 5 * inputs)   # columns' (tap, channel) order
        out = h.new_empty(M, channels, length, h.shape[3])
        torch.baddbmm(bias.unsqueeze(2), flat, columns, out=out.view(M, channels, -1))
        ctx.save_for_backward(columns, flat)
        ctx.input_length = h.shape[2]
        return out

    @staticmethod
    def backward(ctx, grad):
        columns, flat = ctx.saved_tensors
        M, channels, L = *flat.shape[:2], ctx.input_length
        C, length = columns.shape[1] // 5, (L - 1) // 2 + 1
        rows = grad.shape[-1]
        grad = grad.reshape(M, channels, length * rows)
        grad_weight = torch.bmm(grad, columns.transpose(1, 2)).view(M, channels, 5, C).permute(0, 1, 3, 2)
        grad_h = None
        if ctx.needs_input_grad[0]:   # the transposed convolution: products over views of the gradient
            guarded = grad.new_empty(M, channels, (length + 2) * rows)   # output positions -1 .. L', zero ends
            guarded[:, :, :rows].zero_()
            guarded[:, :, (length + 1) * rows:].zero_()
            guarded[:, :, rows:(length + 1) * rows] = grad

            def at(offset):   # the gradient at output positions m + offset, m = 0 .. L' - 1
                return guarded[:, :, (1 + offset) * rows:(1 + offset + length) * rows]

            # Input position 2m reads padded 2m + 2: taps 2, 0, 4 at outputs m, m + 1, m - 1;
            # input position 2m + 1 reads padded 2m + 3: taps 3, 1 at outputs m, m + 1.
            back = flat.view(M, channels, 5, C).permute(2, 0, 3, 1)           # (5, M, in, out), views
            even = torch.bmm(back[2], grad).baddbmm_(back[0], at(1)).baddbmm_(back[4], at(-1))
            odd = torch.bmm(back[3], grad).baddbmm_(back[1], at(1))
            pairs = torch.stack((even.view(M, C, length, rows), odd.view(M, C, length, rows)), dim=3)
            grad_h = pairs.view(M, C, 2 * length, rows)[:, :, :L]   # an odd L has no position 2·length - 1
        return grad_h, grad_weight, grad.sum(2)
