"""Train many configurations of one architecture at once, as one stacked model.

A sweep of M configurations that share an architecture and a schedule is run
as a single network whose every tensor has a leading member axis of size M:

* an MLP layer is one batched product, W (M, out, in) @ h (M, in, batch);
* a CNN layer (kernel 5, stride 2) is one such product over the im2col
  columns of its input, and its input gradient five per-tap products over
  views of the output gradient (``_StridedConv``), followed by a batched
  readout; on CPU this is faster than grouped convolutions;
* batch norm runs per member: its channels are the M × width rows;
* the loss is the sum of the members' mean losses, so each member's gradient
  is exactly its own, and SGD / Adam / AdamW are applied to the stacked
  tensors with per-member learning rates, momenta, decays and penalties.

Each member is initialised by ``build_model(config)`` and sees the batches
``fit`` would show it (the same seeded permutation, the same slicing). Its
dropout masks and input noise come from its own generator, seeded as ``fit``
seeds the global one and drawn in the same order and shapes, so even
stochastic members follow ``fit``'s run; the runs differ only by float
rounding (batched vs. single matrix products), which the tests bound. A
member that stops early or diverges is frozen: it is taken out of the stack,
so neither its weights nor its optimizer state change again, while the others
go on.

Chunks of members train on every core at once, one worker thread per core.
A member's run is bit for bit the same whatever chunk it lands in (rows of
the parameter buffer are padded so element-wise kernels treat every member
alike, and evaluation slices do not depend on the chunk's size), so results
do not depend on the number of cores. Memory is bounded: the running chunks'
estimated size (``estimate_member_bytes``) stays under ``MEMORY_BUDGET``.
"""
from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.deterministic
from torch import nn

from .augment import can_transform, with_augmentation
from .config import Config
from .constraints import max_norm_
from .data import Dataset
from .environment import usable_cores
from .models import build_model
from .training import EarlyStopping, History, as_tensors, check_run, restore_best

__all__ = ["can_batch", "estimate_member_bytes", "train_batched"]

MEMORY_BUDGET = 1 << 30   # bytes one chunk of members may use (estimated); larger sweeps are split
EVAL_FLOATS = 1 << 15     # evaluation runs in slices of samples whose widest activation (per member) fits this
ROW_ALIGNMENT = 64        # floats: each member's row of the flat parameter buffer is padded to a multiple
SHARED_FIELDS = ("model", "hidden", "activation", "batch_norm", "optimizer", "batch_size", "epochs",
                 "penalize_biases", "label_smoothing")  # what every member of one batch must share

BETAS, EPS = (0.9, 0.999), 1e-8            # torch.optim.Adam / AdamW defaults, as fit uses them
BN_MOMENTUM, BN_EPS = 0.1, 1e-5            # torch.nn.BatchNorm1d defaults
# In place where autograd allows it (relu and tanh save their output, not their input): fewer allocations.
_ACTIVATIONS = {"relu": torch.relu_, "tanh": torch.tanh_, "gelu": F.gelu}
_FUSED_ADAM = getattr(torch, "_fused_adam_", None)   # the kernel of torch.optim.Adam(fused=True), if present


def can_batch(configs: Sequence[Config]) -> tuple[bool, str]:
    """Whether ``configs`` can be trained together by ``train_batched``, and why (not)."""
    configs = list(configs)
    if not configs:
        return False, "there are no configurations"
    if not all(isinstance(c, Config) for c in configs):
        return False, "every configuration must be a course_utils.Config"
    for name in SHARED_FIELDS:
        values = sorted({repr(getattr(c, name)) for c in configs})
        if len(values) > 1:
            return False, f"the configurations differ in {name} ({', '.join(values)}); a batch shares it"
    if configs[0].model == "cnn" and any(c.input_dropout for c in configs):
        return False, "input_dropout is for MLPs; the CNN takes dropout and input_noise"
    return True, f"{len(configs)} configuration(s) share one architecture and schedule"


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
    configs = [configs] if isinstance(configs, Config) else list(configs)
    ok, reason = can_batch(configs)
    if not ok:
        raise ValueError(f"these configurations cannot be trained as one batch: {reason}")
    for config in configs:
        check_run(config, data)
    spec = _Spec.of(configs[0], data)
    if not can_transform(augmentation):
        raise ValueError(f"augmentation must be made of course_utils.augment layers (Compose, RandomShift, ...) "
                         f"to be batched; got {augmentation!r:.80}. Train it with fit, or sweep(batched=False)")
    budget = MEMORY_BUDGET if memory_budget is None else memory_budget
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"memory_budget must be a positive number of bytes; got {memory_budget!r}")
    workers = usable_cores() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive number of threads; got {workers!r}")

    splits = {"train": as_tensors(data.x_train, data.y_train)}
    if data.x_val is not None:
        splits["val"] = as_tensors(data.x_val, data.y_val)
    workers = min(workers, len(configs))
    per_member = estimate_member_bytes(configs[0], data)   # members differ in nothing that costs memory
    size = max(1, min(math.ceil(len(configs) / workers), budget // (per_member * workers)))
    n_chunks = math.ceil(len(configs) / size)
    size = math.ceil(len(configs) / n_chunks)  # balanced chunks
    chunks = [range(start, min(start + size, len(configs))) for start in range(0, len(configs), size)]
    build = with_augmentation(augmentation)
    models = [build(c, spec.n_inputs, spec.n_outputs) for c in configs]   # reseeds the global RNG
    histories = [History() for _ in configs]
    stop = threading.Event()   # set on Ctrl-C: every chunk still training ends at its next step

    def train(chunk: range) -> None:
        if stop.is_set():
            return
        try:
            _Batch([configs[i] for i in chunk], [models[i] for i in chunk], [histories[i] for i in chunk],
                   spec, splits, stop, progress, augmentation).run()
        except BaseException:   # Ctrl-C or an error: the other workers stop at their next step
            stop.set()
            raise

    interrupted = False
    # With deterministic algorithms on, torch fills every new tensor with NaN to expose reads of
    # uninitialised memory; nothing here reads before writing, so that extra pass is skipped.
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    threads = torch.get_num_threads()
    try:
        if len(chunks) == 1 or workers == 1:
            for chunk in chunks:
                try:
                    train(chunk)
                except KeyboardInterrupt:
                    interrupted = True
        else:
            torch.set_num_threads(1)   # one core per worker
            with ThreadPoolExecutor(workers, thread_name_prefix="sweep") as pool:
                futures = [pool.submit(train, chunk) for chunk in chunks]
                for future in futures:
                    try:
                        future.result()
                    except KeyboardInterrupt:   # here (Ctrl-C) or in a worker: stop them all, keep going
                        stop.set()
                        interrupted = True
    finally:
        torch.set_num_threads(threads)
        torch.utils.deterministic.fill_uninitialized_memory = fill
    if interrupted:
        for history in histories:
            history.interrupted = True
        print(f"Training interrupted: all {len(configs)} member(s) keep their history so far "
              "and, where fit would, their best weights.")
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


class _Batch:
    """One chunk of members trained together; fills their histories and modules in place.

    Rows of every stacked tensor are the members still training (``self.active``
    holds their positions in the chunk); a member that stops is written back to
    its module and its row is dropped.
    """

    def __init__(self, configs, models, histories, spec: _Spec, splits, stop: threading.Event | None = None,
                 progress: Callable[[int], None] | None = None, augmentation: nn.Module | None = None):
        self.configs, self.models, self.histories, self.spec = configs, models, histories, spec
        self.splits, self.stop, self.progress, self.augmentation = splits, stop, progress, augmentation
        self.reported = 0         # member-epochs passed to ``progress`` so far
        self.stoppers = [EarlyStopping(c.patience, c.min_delta) for c in configs]
        self.order_generators = [torch.Generator().manual_seed(c.seed) for c in configs]  # batch order
        self.noise_generators = [torch.Generator().manual_seed(c.seed) for c in configs]  # dropout, noise
        self.targets = [list(m.state_dict(keep_vars=True).values()) for m in models]
        self.active = list(range(len(configs)))
        self.steps = 0            # optimizer steps (= batch-norm batches seen) of the active members
        self.adam_steps = 0
        self.epoch_data = None    # this epoch's shuffled copy of the training set, rows = members
        self._stack(models)

    # ------------------------------------------------------------ stacking

    def _stack(self, models) -> None:
        """Copy the members' tensors into (M, ...) stacks: parameters in one flat (M, P) buffer."""
        template = models[0]
        named = [list(m.state_dict(keep_vars=True).items()) for m in models]
        penalize_biases = self.configs[0].penalize_biases
        params = [i for i, (_, t) in enumerate(named[0]) if isinstance(t, nn.Parameter)]
        decayed = [i for i in params if penalize_biases or named[0][i][1].ndim >= 2]
        layout, column = {}, 0     # state-dict position -> (first column, shape); decayed ones first
        for i in decayed + [i for i in params if i not in decayed]:
            shape = named[0][i][1].shape
            layout[i] = (column, shape)
            column += shape.numel()
        self.n_decayed = sum(named[0][i][1].numel() for i in decayed)
        self.layout = layout
        # Rows are padded to a whole number of vector blocks (zeros that never move): element-wise kernels
        # then treat every member alike, whatever its row, so a member's run does not depend on its chunk.
        self.padding = -column % ROW_ALIGNMENT
        self.flat = torch.zeros(len(models), column + self.padding)
        for i, (first, shape) in layout.items():
            self.flat[:, first:first + shape.numel()] = torch.stack([n[i][1].detach().reshape(-1) for n in named])
        self.buffers = {i: torch.stack([n[i][1].detach() for n in named]) for i, (name, t) in enumerate(named[0])
                        if i not in layout and not name.endswith("num_batches_tracked")}
        self.counters = [i for i, (name, _) in enumerate(named[0]) if name.endswith("num_batches_tracked")]
        position = {id(t): i for i, (_, t) in enumerate(named[0])}
        weighted = [m for m in template.modules() if isinstance(m, (nn.Linear, nn.Conv1d))]
        norms = [m for m in template.modules() if isinstance(m, nn.BatchNorm1d)]
        self.layer_positions = [(position[id(m.weight)], position[id(m.bias)]) for m in weighted]
        self.norm_positions = [tuple(position[id(t)] for t in (m.weight, m.bias, m.running_mean, m.running_var))
                               for m in norms]
        self.hyper = {name: torch.tensor([[float(getattr(c, name))] for c in self.configs], dtype=torch.float64)
                      for name in ("lr", "momentum", "weight_decay", "l1", "l2")}
        self.moments: list[torch.Tensor] = []   # Adam: first and second moments; SGD: momentum buffer
        self._bind()

    def _bind(self) -> None:
        """(Re)create the parameter leaves (views of ``flat``) and the per-member constants."""
        rows = self.active
        self.tensors = {}
        for i, (first, shape) in self.layout.items():
            view = self.flat[:, first:first + shape.numel()].view(len(rows), *shape)
            self.tensors[i] = view.detach().requires_grad_()
        self.tensors.update(self.buffers)
        self.layers = [(self.tensors[w], self.tensors[b]) for w, b in self.layer_positions]
        self.norms = [tuple(self.tensors[i] for i in positions) for positions in self.norm_positions]
        hyper = {name: values[rows] for name, values in self.hyper.items()}
        lrs = hyper["lr"].flatten().tolist()
        self.lr_groups = ([(lrs[0], None)] if len(set(lrs)) == 1 else
                          [(lr, [r for r, v in enumerate(lrs) if v == lr]) for lr in dict.fromkeys(lrs)])
        self.neg_lr = (-hyper["lr"]).float()
        self.momentum = hyper["momentum"].float()
        self.any_momentum = bool((hyper["momentum"] != 0).any())
        self.weight_decay = hyper["weight_decay"].float()
        self.any_decay = bool((hyper["weight_decay"] != 0).any())
        self.decoupled_scale = (1 - hyper["lr"] * hyper["weight_decay"]).float()  # AdamW: p *= 1 - lr·wd
        self.l1, self.l2 = hyper["l1"].float(), hyper["l2"].float()
        self.any_l1, self.any_l2 = bool((hyper["l1"] != 0).any()), bool((hyper["l2"] != 0).any())
        configs = [self.configs[r] for r in rows]
        # Random sites in the order fit's modules draw from the RNG: input noise, input dropout,
        # then one dropout per hidden layer. Each site lists (row, generator, rate) of the members using it.
        def site(rates):
            return [(row, self.noise_generators[member], rate)
                    for row, (member, rate) in enumerate(zip(rows, rates)) if rate > 0]
        self.noise_site = site([c.input_noise for c in configs])
        self.input_dropout_site = site([c.input_dropout for c in configs])
        self.dropout_site = site([c.dropout for c in configs])

    def _select(self, keep: list[int]) -> None:
        """Keep only the given rows (positions in ``self.active``) of every stacked tensor."""
        index = torch.tensor(keep, dtype=torch.long)
        self.flat = self.flat[index]
        self.buffers = {i: t[index] for i, t in self.buffers.items()}
        self.moments = [m[index] for m in self.moments]
        if self.epoch_data is not None:   # mid-epoch: the shuffled copies lose the same rows
            self.epoch_data = tuple(t[index] for t in self.epoch_data)
        self.active = [self.active[k] for k in keep]
        self._bind()

    def _write_back(self, row: int) -> None:
        """Copy row ``row`` of the stacks into its member's own module."""
        member = self.active[row]
        with torch.no_grad():
            for i, target in enumerate(self.targets[member]):
                if i in self.counters:
                    target.fill_(self.steps)
                else:
                    target.copy_(self.tensors[i][row])

    def _freeze(self, rows: list[int], *, written: bool = False, diverged: bool = False,
                stopped_early: bool = False) -> None:
        """End the given rows' runs as fit would (write back, restore the best) and drop them from the stacks."""
        for row in rows:
            member = self.active[row]
            if not written:
                self._write_back(row)
            history = self.histories[member]
            history.diverged |= diverged
            history.stopped_early |= stopped_early
            restore_best(self.models[member], history, self.configs[member])
        keep = [row for row in range(len(self.active)) if row not in rows]
        if keep:
            self._select(keep)
        else:
            self.active = []

    # ------------------------------------------------------------ forward passes

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

    def forward(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        """Outputs (M, n_outputs, rows). Training: x holds each member's batch; eval: one x for all."""
        if self.spec.model == "cnn":
            return self._forward_cnn(x, training)
        return self._forward_mlp(x, training)

    def _forward_mlp(self, x, training):
        # Activations are feature-major, (M, features, rows): a layer is W (M, out, in) @ h (M, in, rows),
        # batch norm normalises the last axis and cross-entropy reads classes on axis 1.
        # training: x (M, n_inputs, B), one batch per member; eval: x (R, n_inputs) shared by all members.
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
            if h.ndim == 2:   # the shared input of an evaluation: one (M·out, in) @ (in, R) product
                weight, bias = self._eval_first_layer
                h = torch.addmm(bias, weight, h.t()).view(M, -1, len(h))
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

    # ------------------------------------------------------------ losses

    def losses(self, outputs: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
        """Each member's mean loss, (M,), from outputs (M, n_outputs, B) and targets (M, B[, k])."""
        M = outputs.shape[0]
        if self.spec.classification:   # classes on axis 1: log-softmax is fast there
            return F.cross_entropy(outputs, targets, reduction="none", label_smoothing=smoothing).mean(1)
        errors = (outputs.transpose(1, 2).reshape(targets.shape) - targets) ** 2
        return errors.reshape(M, -1).mean(1)

    @torch.no_grad()
    def evaluate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Eval-mode loss and accuracy of every active member on a whole split, as fit records them."""
        x, y = self.splits[split]
        M, n = len(self.active), len(x)
        weight, bias = self.layers[0]
        if self.spec.model == "mlp":   # every slice reuses the first layer's weights, stacked as one matrix
            self._eval_first_layer = (weight.detach().reshape(-1, weight.shape[-1]), bias.detach().reshape(-1, 1))
        outputs = torch.empty(M, self.spec.n_outputs, n)
        rows = max(32, EVAL_FLOATS // self.spec.widest())   # small slices stay in cache; the same for any M
        for start in range(0, n, rows):
            outputs[:, :, start:start + rows] = self.forward(self._inputs(x[start:start + rows]), training=False)
        targets = y.expand(M, *y.shape)
        loss = self.losses(outputs, targets, 0.0).numpy()
        if not self.spec.classification:
            return loss, np.full(M, math.nan)
        wrong = torch.sign((_first_argmax(outputs) - targets).abs())   # 0 where right, 1 where wrong
        return loss, ((n - wrong.sum(1)) / n).numpy()

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1)   # MLPs flatten; the CNN reads (n, L) sequences

    # ------------------------------------------------------------ optimisation

    @torch.no_grad()
    def step(self) -> None:
        """One update of every active member, with torch.optim's formulas on the flat (M, P) buffers."""
        leaves = [self.tensors[i] for i in self.layout]
        grads = [t.grad.reshape(len(self.active), -1) for t in leaves]
        grad = torch.cat(grads + [grads[0].new_zeros(len(self.active), self.padding)], dim=1)
        for t in leaves:
            t.grad = None
        # Leaves were laid out in layout order; ``flat`` columns follow the same order.
        param = self.flat
        n = self.n_decayed
        if self.any_l1:   # d/dw of l1·Σ|w| (fit gets it from autograd on the penalty)
            grad[:, :n].addcmul_(torch.sign(param[:, :n]), self.l1)
        if self.any_l2:   # d/dw of l2/2·Σw²
            grad[:, :n].addcmul_(param[:, :n], self.l2)
        optimizer = self.spec.optimizer
        if self.any_decay and optimizer in ("sgd", "adam"):      # coupled: added to the gradient
            grad[:, :n].addcmul_(param[:, :n], self.weight_decay)
        if optimizer == "sgd":
            if self.any_momentum:
                if not self.moments:
                    self.moments = [grad.clone()]                 # torch.optim.SGD starts the buffer at g
                else:
                    self.moments[0].mul_(self.momentum).add_(grad)
                grad = self.moments[0]
            param.addcmul_(grad, self.neg_lr)                     # p -= lr * g
        if self.any_decay and optimizer == "adamw":              # decoupled: shrinks the weights
            param[:, :n] *= self.decoupled_scale
        if optimizer != "sgd":
            self._adam(param, grad)
        self._project_max_norm()

    def _project_max_norm(self) -> None:
        """The members' max-norm constraints, after their step: on every weight matrix and kernel, as fit."""
        bounds = [self.configs[member].max_norm for member in self.active]
        if all(bound is None for bound in bounds):
            return
        c = torch.tensor([math.inf if bound is None else bound for bound in bounds])
        for first, shape in self.layout.values():
            if len(shape) >= 2:   # fit's penalized_parameters(model): tensors with 2+ dimensions
                max_norm_(self.flat[:, first:first + shape.numel()].view(len(self.active), *shape), c, batch_dims=1)

    def _adam(self, param: torch.Tensor, grad: torch.Tensor) -> None:
        """Adam's moment updates and step, with each member's learning rate (decay is already applied).

        Members sharing a learning rate are updated by one call of torch's fused Adam kernel
        (the one behind ``torch.optim.Adam(fused=True)``): one pass over their rows.
        """
        if not self.moments:
            self.moments = [torch.zeros_like(param), torch.zeros_like(param)]
        exp_avg, exp_avg_sq = self.moments
        self.adam_steps += 1
        (beta1, beta2), step = BETAS, torch.tensor(float(self.adam_steps))
        if _FUSED_ADAM is None:   # the same formulas, one operation at a time
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denominator = (exp_avg_sq.sqrt() / (1 - beta2 ** self.adam_steps) ** 0.5).add_(EPS)
            param.addcdiv_(exp_avg * self.neg_lr / (1 - beta1 ** self.adam_steps), denominator)
            return
        for lr, rows in self.lr_groups:
            if rows is None:      # every member: the whole (M, P) tensors at once
                tensors = [[param], [grad], [exp_avg], [exp_avg_sq]]
            else:
                tensors = [[t[r] for r in rows] for t in (param, grad, exp_avg, exp_avg_sq)]
            _FUSED_ADAM(*tensors, [], [step] * len(tensors[0]), lr=lr, beta1=beta1, beta2=beta2,
                        weight_decay=0.0, eps=EPS, amsgrad=False, maximize=False)

    # ------------------------------------------------------------ training

    def run(self) -> None:
        history_of = self.histories
        try:
            for epoch in range(1, self.spec.epochs + 1):
                if not self.active:
                    break
                self.train_epoch()
                if not self.active:
                    break
                train_loss, train_acc = self.evaluate("train")
                val = self.evaluate("val") if "val" in self.splits else None
                diverged, stopped = [], []
                for row, member in enumerate(self.active):
                    history = history_of[member]
                    if not math.isfinite(train_loss[row]):      # the epoch's last step overflowed
                        diverged.append(row)
                        continue
                    history.train_loss.append(float(train_loss[row]))
                    history.train_acc.append(float(train_acc[row]))
                    if val is not None:
                        history.val_loss.append(float(val[0][row]))
                        history.val_acc.append(float(val[1][row]))
                        if self.stoppers[member].update(history.val_loss[-1], epoch):
                            history.best_epoch = epoch
                            self._write_back(row)
                            history.best_state = copy.deepcopy(self.models[member].state_dict())
                    if self.stoppers[member].should_stop:
                        stopped.append(row)
                # Diverged rows first: freezing re-numbers the rows.
                if diverged:
                    stopped_members = [self.active[r] for r in stopped]
                    self._freeze(diverged, diverged=True)
                    stopped = [self.active.index(m) for m in stopped_members]
                if stopped:
                    self._freeze(stopped, stopped_early=True)
                self._report(epoch)
        except KeyboardInterrupt:
            for member in self.active:
                self.histories[member].interrupted = True
            for row in range(len(self.active)):
                self._write_back(row)
                restore_best(self.models[self.active[row]], self.histories[self.active[row]],
                              self.configs[self.active[row]])
            self.active = []
            raise
        for row in range(len(self.active)):   # members that ran every epoch
            member = self.active[row]
            self._write_back(row)
            restore_best(self.models[member], self.histories[member], self.configs[member])
        self.active = []
        self._report(self.spec.epochs)

    def _report(self, epoch: int) -> None:
        """Pass on the member-epochs done after ``epoch``: a frozen member has done all of its epochs."""
        if self.progress is None:
            return
        done = epoch * len(self.active) + self.spec.epochs * (len(self.configs) - len(self.active))
        if done > self.reported:
            self.progress(done - self.reported)
            self.reported = done

    def train_epoch(self) -> None:
        """One pass over each member's own shuffle of the training set, in fit's batches."""
        x, y = self.splits["train"]
        x = self._inputs(x)
        n, size = len(x), self.spec.batch_size
        order = torch.stack([torch.randperm(n, generator=self.order_generators[m]) for m in self.active])
        cnn = self.spec.model == "cnn"
        # One gather per epoch; each batch is then a slice. Inputs (M, n, features or length), targets (M, n).
        self.epoch_data = (x.index_select(0, order.reshape(-1)).view(len(self.active), n, -1), y[order])
        smoothing = self.spec.label_smoothing
        for start in range(0, n, size):
            if self.stop is not None and self.stop.is_set():   # Ctrl-C reached another thread
                raise KeyboardInterrupt
            stop = min(start + size, n)
            if self.norms and stop - start < 2:   # as fit: batch statistics of one sample are undefined
                continue
            inputs, targets = self.epoch_data
            batch = inputs[:, start:stop]                                     # CNN: (M, B, L)
            if self.augmentation is not None:   # first of each member's draws in a step, as in fit
                batch = torch.stack([self.augmentation.transform(batch[row], self.noise_generators[member])
                                     for row, member in enumerate(self.active)])
            if not cnn:
                batch = batch.transpose(1, 2)                                 # MLP: (M, features, B)
            losses = self.losses(self.forward(batch, training=True), targets[:, start:stop], smoothing)
            self.steps += 1
            finite = torch.isfinite(losses)
            diverged = [] if bool(finite.all()) else torch.nonzero(~finite).flatten().tolist()
            for row in diverged:   # fit stops before this step: keep these members as they are now
                self._write_back(row)
            if diverged:
                losses = torch.where(finite, losses, torch.zeros(()))
            losses.sum().backward()
            self.step()
            if diverged:
                self._freeze(diverged, written=True, diverged=True)
                if not self.active:
                    break
        self.epoch_data = None


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


def _first_argmax(outputs: torch.Tensor) -> torch.Tensor:
    """Index of the largest value along axis 1, the first one when tied (as torch.argmax), as floats.

    Built from fast element-wise ops and ``amax``: on CPU, argmax over a non-last axis
    and element-wise comparisons (bool outputs) are many times slower.
    """
    classes = outputs.shape[1]
    at_max = torch.sign(outputs - outputs.amax(1, keepdim=True)).add_(1)   # 1 at the maxima, else 0
    weights = torch.arange(classes, 0, -1, dtype=outputs.dtype).view(1, -1, *([1] * (outputs.ndim - 2)))
    return classes - at_max.mul_(weights).amax(1)
