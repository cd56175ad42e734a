"""What both engines that train many networks at once share: the members' parameters in one flat buffer, the
optimizer that updates it, and ``fit``'s bookkeeping for every member.

A *member* is one configuration's network. ``batched.py`` (rules for the layers an MLP is made of, applied layer
by layer over the members) and ``stacked.py`` (any network, its own modules under ``torch.func.vmap``) differ only
in how they group members and compute a batch's outputs and a split's evaluation; each subclasses ``Members``
for that. Everything else happens here once: building the members, the batches ``fit`` would show each one, its
dropout and noise draws, its optimizer step (SGD with momentum, Adam, AdamW, the L1/L2 penalties, max-norm), its
history, early stopping and best weights, divergence, progress and Ctrl-C, and the worker threads.
"""
from __future__ import annotations

import contextlib
import copy
import math
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.adam import adam

from .augment import can_transform, with_augmentation
from .config import Config
from .constraints import max_norm_
from .data import Dataset
from .environment import usable_cores
from .models import model_sizes
from .penalties import penalized_parameters
from .scheduling import MEMORY_BUDGET, balanced_chunks, member_bytes, run_groups
from .training import EarlyStopping, History, as_tensors, check_run, restore_best
from .validation import check_positive_int

__all__ = ["SHARED_FIELDS", "Members", "can_batch", "check_members", "stack_splits", "train_members"]

ROW_ALIGNMENT = 64              # floats: each member's row of the flat buffer is padded to a multiple of this
BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam / AdamW defaults, as fit uses them
TINY = 1e-36                    # a normal float32 whose root, even over 1 - β2, vanishes beside EPS
HYPER = ("lr", "momentum", "weight_decay", "l1", "l2")   # what members of one group may set apart
_GLOBAL_DRAWS = threading.Lock()  # held by a group whose layers draw from torch's global generator while it trains
SHARED_FIELDS = ("model", "hidden", "activation", "batch_norm", "optimizer", "batch_size", "epochs",
                 "penalize_biases", "label_smoothing")  # what every member of one group must share


def can_batch(configs: Sequence[Config]) -> tuple[bool, str]:
    """Whether ``configs`` can be trained together (``train_batched``, ``train_stacked``), and why (not)."""
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


def check_members(configs: Config | Sequence[Config], data: Dataset | Sequence[Dataset],
                  augmentation: nn.Module | None, memory_budget: int | None, workers: int | None,
                  default_budget: int) -> tuple[list[Config], list[Dataset], int, int]:
    """The checks both engines run first, one message per mistake; returns the configurations, one dataset
    per configuration, the memory budget and the number of workers."""
    configs = [configs] if isinstance(configs, Config) else list(configs)
    ok, reason = can_batch(configs)
    if not ok:
        raise ValueError(f"these configurations cannot be trained as one batch: {reason}")
    if not isinstance(data, Dataset) and not (isinstance(data, (list, tuple)) and data
                                              and all(isinstance(d, Dataset) for d in data)):
        raise TypeError(f"data must be a course_utils.data.Dataset, or a list of one per configuration; "
                        f"got {type(data).__name__}")
    datasets = [data] * len(configs) if isinstance(data, Dataset) else list(data)
    if len(datasets) != len(configs):
        raise ValueError(f"give one Dataset, or one per configuration; got {len(datasets)} for {len(configs)}")
    for config, dataset in zip(configs, datasets):
        check_run(config, dataset)
    if len({_sizes(d) for d in datasets}) > 1:
        raise ValueError("the members' datasets differ in size or shape; members of a stack need equal sizes: "
                         f"{sorted({_sizes(d) for d in datasets})}")
    if not can_transform(augmentation):
        raise ValueError(f"augmentation must be made of course_utils.augment layers (Compose, RandomShift, ...) "
                         f"to be batched; got {augmentation!r:.80}. Train it with fit, or sweep(batched=False)")
    return (configs, datasets, check_positive_int(default_budget if memory_budget is None else memory_budget,
                                                  "memory_budget"),
            check_positive_int(usable_cores() if workers is None else workers, "workers"))


def _sizes(data: Dataset) -> tuple:
    """The shapes of a dataset's training and validation arrays: what members of one stack must share."""
    return tuple(None if getattr(data, name) is None else tuple(getattr(data, name).shape)
                 for name in ("x_train", "y_train", "x_val", "y_val"))


def stack_splits(datasets: Sequence[Dataset]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each split's (inputs, targets) stacked as (M, n, ...), a row per member, or as one (1, n, ...) copy
    when every member reads the same Dataset."""
    rows = list(datasets) if len({id(d) for d in datasets}) > 1 else list(datasets[:1])
    return {split: tuple(torch.stack(parts) for parts in zip(*(
                as_tensors(getattr(d, f"x_{split}"), getattr(d, f"y_{split}")) for d in rows)))
            for split in ("train", "val") if getattr(rows[0], f"x_{split}") is not None}


def train_members(engines: Sequence[type[Members]], configs: Config | Sequence[Config],
                  data: Dataset | Sequence[Dataset], *, memory_budget: int | None = None, workers: int | None = None,
                  progress: Callable[[int], None] | None = None, augmentation: nn.Module | None = None,
                  model_fn: Callable | None = None) -> list[tuple[History, nn.Module]]:
    """Check the input, build every member, and train each with the first of ``engines`` that ``accepts`` its
    network, in groups of one structure (``structures``), ``workers`` groups at a time and under ``memory_budget``
    bytes: what ``train_batched`` and ``train_stacked`` do, each with its own engine, and a sweep with both."""
    configs, datasets, budget, workers = check_members(configs, data, augmentation, memory_budget, workers,
                                                       MEMORY_BUDGET)
    build = model_fn or with_augmentation(augmentation)
    models = [build(c, *model_sizes(datasets[0])) for c in configs]   # reseeds the global RNG, as fit's caller does
    networks = [m[1] if augmentation is not None else m for m in models]
    histories = [History() for _ in configs]
    workers = min(workers, len(configs))
    per_member = member_bytes(models[0], configs[0], datasets[0])
    by_engine: dict[type[Members], list[int]] = {}
    for i, network in enumerate(networks):
        verdicts = [(engine, *engine.accepts(network)) for engine in engines]
        accepted = [engine for engine, ok, _ in verdicts if ok]
        if not accepted:
            raise ValueError(verdicts[-1][2])
        by_engine.setdefault(accepted[0], []).append(i)
    sample = as_tensors(datasets[0].x_train[:2], datasets[0].y_train[:2])[0]
    groups = []
    for engine, members in by_engine.items():
        for structure in engine.structures([networks[i] for i in members]):
            indices = [members[j] for j in structure]
            serial = engine.draws_globally(networks[indices[0]], sample)
            # Groups whose layers draw from torch's global generator train one at a time, each whole (as far as
            # memory allows) and seeded from its first member: the same draws on any number of cores.
            size = max(1, budget // per_member if serial else
                       min(math.ceil(len(configs) / workers), budget // (per_member * workers)))
            groups += [(engine, chunk, serial) for chunk in balanced_chunks(indices, size)]

    def train(group: tuple[type[Members], list[int], bool], stop: threading.Event) -> None:
        engine, members, serial = group
        with _GLOBAL_DRAWS if serial else contextlib.nullcontext():
            if serial:
                torch.manual_seed(configs[members[0]].seed)
            engine([configs[i] for i in members], [models[i] for i in members], [histories[i] for i in members],
                   stack_splits([datasets[i] for i in members]), stop, progress, augmentation).run()

    run_groups(groups, train, workers, histories)
    return list(zip(histories, models))


class Members:
    """Members of one structure trained together; fills their histories and modules in place, as ``fit`` would.

    Row r of every stacked tensor is member ``self.active[r]`` (a position in this group's lists). The trained
    parameters fill one flat (M, P) buffer, penalized ones first, each row padded with zeros to a multiple of
    ``ROW_ALIGNMENT`` floats so that element-wise kernels treat every member alike whatever its row; the leaves
    ``self.params[name]``, (M, *shape), are views of it. ``self.buffers[name]`` stacks everything else the
    network's state holds. ``splits[split]`` is (inputs, targets) of shape (M, n, ...), each member's own data,
    or (1, n, ...), one copy every member reads. A member that stops early or diverges is frozen: written
    back to its module and dropped from the stack.

    Subclasses give ``accepts(network)``, whether they run it; ``structures(networks)``, which members train
    together; ``_outputs(inputs)``, a training
    batch's outputs (M, outputs, B) with autograd; and ``_split_outputs(split)``, a whole split's in eval mode,
    (M, outputs, n).
    """

    @staticmethod
    def accepts(network: nn.Module) -> tuple[bool, str]:
        """Whether this engine can run ``network``, and why (not)."""
        return True, "any network"

    @staticmethod
    def draws_globally(network: nn.Module, sample: torch.Tensor) -> bool:
        """Whether this engine's training pass of ``network`` on ``sample`` draws from torch's global generator
        (then the group trains alone, seeded: ``train_members``)."""
        return False

    @staticmethod
    def structures(networks: list[nn.Module]) -> list[list[int]]:
        """The members (positions in ``networks``) that can train as one group."""
        raise NotImplementedError

    def __init__(self, configs: Sequence[Config], models: Sequence[nn.Module], histories: Sequence[History],
                 splits: dict, stop: threading.Event, progress: Callable[[int], None] | None = None,
                 augmentation: nn.Module | None = None):
        self.configs, self.models, self.histories, self.splits = list(configs), list(models), histories, splits
        self.networks = [m[1] for m in models] if augmentation is not None else list(models)
        self.stop, self.progress, self.augmentation, self.reported = stop, progress, augmentation, 0
        self.shared, self.active, self.epoch_data = configs[0], list(range(len(configs))), None
        self.stoppers = [EarlyStopping(c.patience, c.min_delta) for c in configs]
        self.order_generators = [torch.Generator().manual_seed(c.seed) for c in configs]   # batch order, as fit
        self.generators = [torch.Generator().manual_seed(c.seed) for c in configs]   # dropout, noise, augmentation
        self.batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.networks[0].modules())
        self._stack()

    # ------------------------------------------------------------ the stacks

    def _stack(self) -> None:
        """Copy the members' parameters into the flat buffer and stack their other state."""
        template = self.networks[0]
        named = dict(template.named_parameters())
        penalized = {id(p) for p in penalized_parameters(template, self.shared.penalize_biases)}
        # Frozen parameters (requires_grad=False) are constants, as fit's optimizer and penalties leave them.
        trained = [name for name, p in named.items() if p.requires_grad]
        self.names = sorted(trained, key=lambda n: id(named[n]) not in penalized)   # stable: penalized first
        self.shapes = {name: named[name].shape for name in self.names}
        self.sizes = [named[name].numel() for name in self.names]
        self.n_penalized = sum(named[n].numel() for n in self.names if id(named[n]) in penalized)
        # By position in the state dict: members whose dropout or noise layers differ number their layers
        # differently, yet hold the same tensors in the same order.
        self.state_names = list(template.state_dict(keep_vars=True))
        self.states = [list(n.state_dict(keep_vars=True).values()) for n in self.networks]
        at = {name: i for i, name in enumerate(self.state_names)}
        columns = sum(self.sizes)
        self.flat = torch.zeros(len(self.networks), columns + -columns % ROW_ALIGNMENT)
        self.flat[:, :columns] = torch.cat([torch.stack([s[at[name]].detach().reshape(-1) for s in self.states])
                                            for name in self.names], dim=1)
        self.buffers = {name: torch.stack([s[at[name]].detach() for s in self.states]).clone()
                        for name in self.state_names if name not in self.shapes}
        self.hyper = {name: torch.tensor([[float(getattr(c, name))] for c in self.configs], dtype=torch.float64)
                      for name in HYPER}
        self.moments: list[torch.Tensor] = []   # SGD: the momentum buffer; Adam: the two moments
        self.adam_steps = 0
        self._bind()

    def _bind(self) -> None:
        """Parameter leaves as views of ``flat`` (the optimizer's updates reach them), per-member constants."""
        views = self.flat[:, :sum(self.sizes)].split(self.sizes, dim=1)
        self.params = {name: view.view(len(self.active), *self.shapes[name]).detach().requires_grad_()
                       for name, view in zip(self.names, views)}
        h = {name: values[self.active] for name, values in self.hyper.items()}
        self.any = {name: bool((values != 0).any()) for name, values in h.items()}
        self.h = {name: values.float() for name, values in h.items()}
        self.neg_lr = -self.h["lr"]
        self.decoupled = (1 - h["lr"] * h["weight_decay"]).float()   # AdamW: p *= 1 - lr·wd
        rates = h["lr"].flatten().tolist()
        self.lr_groups = [(lr, None if len(set(rates)) == 1 else [r for r, x in enumerate(rates) if x == lr])
                          for lr in dict.fromkeys(rates)]

    def _select(self, keep: list[int]) -> None:
        """Keep only the given rows (positions in ``self.active``) of every stacked tensor."""
        index = torch.tensor(keep, dtype=torch.long)
        self.flat = self.flat[index]
        self.buffers = {name: b[index] for name, b in self.buffers.items()}
        self.moments = [m[index] for m in self.moments]
        if self.epoch_data is not None:   # mid-epoch: the shuffled copies lose the same rows
            self.epoch_data = tuple(t[index] for t in self.epoch_data)
        self.active = [self.active[k] for k in keep]
        self._bind()

    def _write_back(self, row: int) -> None:
        """Copy row ``row`` of the stacks into its member's own module."""
        with torch.no_grad():
            for name, target in zip(self.state_names, self.states[self.active[row]]):
                target.copy_((self.params if name in self.params else self.buffers)[name][row])

    def _freeze(self, rows: list[int], written: bool = False, **ending: bool) -> None:
        """End the given rows' runs as fit would (write back, restore the best) and drop them from the stack."""
        for row in rows:
            member = self.active[row]
            if not written:
                self._write_back(row)
            for name, value in ending.items():
                setattr(self.histories[member], name, value)
            restore_best(self.models[member], self.histories[member], self.configs[member])
        self._select([row for row in range(len(self.active)) if row not in rows])

    def _data_rows(self) -> torch.Tensor:
        """The row of ``splits`` each active member reads: its own, or the one shared copy."""
        shared = len(self.splits["train"][0]) == 1
        return torch.zeros(len(self.active), dtype=torch.long) if shared else torch.tensor(self.active)

    # ------------------------------------------------------------ losses and scores

    def _losses(self, outputs: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        """Each member's mean loss (M,) from outputs (M, outputs, n) and targets (M, n[, k])."""
        if y.dtype == torch.int64:   # classes on axis 1: on CPU 2.5 times faster than (M·n, classes)
            return F.cross_entropy(outputs, y, reduction="none", label_smoothing=smoothing).mean(1)
        return ((outputs.transpose(1, 2).reshape(y.shape) - y) ** 2).reshape(len(y), -1).mean(1)

    @torch.no_grad()
    def evaluate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Eval-mode loss and accuracy of every active member on a whole split, as fit records them."""
        outputs, y = self._split_outputs(split), self.splits[split][1]
        y = y.expand(len(self.active), *y.shape[1:]) if len(y) == 1 else y[self._data_rows()]
        loss = self._losses(outputs, y).numpy()
        if y.dtype != torch.int64:
            return loss, np.full(len(loss), math.nan)
        wrong = torch.sign((_first_argmax(outputs) - y).abs())   # 0 where right, 1 where wrong
        return loss, ((y.shape[1] - wrong.sum(1)) / y.shape[1]).numpy()

    def draw(self, kind: str, layers: Sequence[nn.Module | None], shape: tuple[int, ...]) -> torch.Tensor | None:
        """Every active member's draw for one of its ``dropout`` or ``noise`` layers, (M, *shape), from its own
        generator as fit's forward draws it: a dropout mask scaled by 1 / (1 - p), or the noise to add.
        ``layers[member]`` is the member's layer, None where it has none; None if no member draws."""
        drawn = [(row, layers[member]) for row, member in enumerate(self.active) if layers[member] is not None
                 and (kind == "noise" or layers[member].p > 0)]
        if not drawn:
            return None
        out = torch.full((len(self.active), *shape), 1.0 if kind == "dropout" else 0.0)
        for row, layer in drawn:
            generator = self.generators[self.active[row]]
            if kind == "noise":
                out[row] = layer.transform(out[row], generator)
            else:   # as torch's dropout draws on CPU: a Bernoulli(1 - p) mask over 1 - p
                out[row].bernoulli_(1 - layer.p, generator=generator).div_(1 - layer.p)
        return out

    def _outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _split_outputs(self, split: str) -> torch.Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------ the optimizer

    @torch.no_grad()
    def step(self) -> None:
        """One update of every active member, then each one's max-norm constraint, as fit's train_epoch."""
        self._update()
        bounds = [self.configs[member].max_norm for member in self.active]
        if any(bound is not None for bound in bounds):
            c = torch.tensor([math.inf if bound is None else bound for bound in bounds])
            for leaf in self.params.values():
                if leaf.ndim >= 3:   # a member's weight matrix or kernel: fit's penalized_parameters(model)
                    max_norm_(leaf.detach(), c, batch_dims=1)

    def _update(self) -> None:
        """The optimizer's step for every active member, with torch.optim's formulas on the flat (M, P) buffer."""
        M, p, n, h = len(self.active), self.flat, self.n_penalized, self.h
        grads = [self.params[name].grad.reshape(M, -1) for name in self.names]
        grad = torch.cat(grads + [grads[0].new_zeros(M, p.shape[1] - sum(self.sizes))], dim=1)
        for leaf in self.params.values():
            leaf.grad = None
        if self.any["l1"]:   # d/dw of l1·Σ|w|, as autograd differentiates fit's penalty
            grad[:, :n].addcmul_(torch.sign(p[:, :n]), h["l1"])
        if self.any["l2"]:   # d/dw of l2/2·Σw²
            grad[:, :n].addcmul_(p[:, :n], h["l2"])
        optimizer = self.shared.optimizer
        if self.any["weight_decay"] and optimizer != "adamw":    # coupled: added to the gradient
            grad[:, :n].addcmul_(p[:, :n], h["weight_decay"])
        if optimizer == "sgd":
            if self.any["momentum"]:   # torch.optim.SGD starts the buffer at g
                grad = self.moments[0].mul_(h["momentum"]).add_(grad) if self.moments else grad.clone()
                self.moments = [grad]
            p.addcmul_(grad, self.neg_lr)
            return
        if self.any["weight_decay"] and optimizer == "adamw":    # decoupled: shrinks the weights
            p[:, :n].mul_(self.decoupled)
        if not self.moments:
            self.moments = [torch.zeros_like(p), torch.zeros_like(p)]
        (beta1, beta2), (m, v) = BETAS, self.moments
        for lr, rows in self.lr_groups:   # torch's fused Adam, one pass per learning rate: 3x the plain formulas
            tensors = [[t] if rows is None else [t[row] for row in rows] for t in (p, grad, m, v)]
            steps = [torch.tensor(float(self.adam_steps)) for _ in tensors[0]]   # adam() counts this step in
            adam(*tensors, [], steps, fused=True, amsgrad=False, beta1=beta1, beta2=beta2, lr=lr,
                 weight_decay=0.0, eps=EPS, maximize=False)
        self.adam_steps += 1
        # Kept above TINY: below it v is invisible beside EPS, and its subnormal values slow every pass 30-fold.
        v.clamp_min_(TINY)

    # ------------------------------------------------------------ fit's loop, for every member

    def train_epoch(self) -> None:
        """One pass over each member's own shuffle of the training set, in fit's batches."""
        x, y = self.splits["train"]
        n, size = x.shape[1], self.shared.batch_size
        order = torch.stack([torch.randperm(n, generator=self.order_generators[m]) for m in self.active])
        rows = self._data_rows()[:, None]
        self.epoch_data = (x[rows, order], y[rows, order])   # one gather per epoch; each batch is then a slice
        for start in range(0, n, size):
            if self.stop.is_set():   # Ctrl-C or an error reached another thread
                raise KeyboardInterrupt
            if self.batch_norm and min(start + size, n) - start < 2:   # as fit: one sample has no batch statistics
                continue
            inputs, targets = (t[:, start:start + size] for t in self.epoch_data)
            if self.augmentation is not None:   # the first draws of each member's step, as in fit
                inputs = torch.stack([self.augmentation.transform(inputs[row], self.generators[member])
                                      for row, member in enumerate(self.active)])
            losses = self._losses(self._outputs(inputs), targets, self.shared.label_smoothing)
            finite = torch.isfinite(losses)
            diverged = [] if bool(finite.all()) else torch.nonzero(~finite).flatten().tolist()
            for row in diverged:   # fit stops before this step: these members keep their weights as they are
                self._write_back(row)
            (torch.where(finite, losses, 0.0) if diverged else losses).sum().backward()
            self.step()
            if diverged:
                self._freeze(diverged, written=True, diverged=True)
                if not self.active:
                    break
        self.epoch_data = None

    def _record(self, epoch: int) -> None:
        """Evaluate the active members, fill their histories, and freeze those that diverged or stop."""
        train_loss, train_acc = self.evaluate("train")
        val = self.evaluate("val") if "val" in self.splits else None
        diverged, stopped = [], []
        for row, member in enumerate(self.active):
            history, stopper = self.histories[member], self.stoppers[member]
            if not math.isfinite(train_loss[row]):      # the epoch's last step overflowed
                diverged.append(member)
                continue
            history.train_loss.append(float(train_loss[row]))
            history.train_acc.append(float(train_acc[row]))
            if val is not None:
                history.val_loss.append(float(val[0][row]))
                history.val_acc.append(float(val[1][row]))
                if stopper.update(history.val_loss[-1], epoch):
                    history.best_epoch = epoch
                    self._write_back(row)
                    history.best_state = copy.deepcopy(self.models[member].state_dict())
            if stopper.should_stop:
                stopped.append(member)
        for members, ending in ((diverged, "diverged"), (stopped, "stopped_early")):
            if members:   # rows renumber after each freeze: find them again
                self._freeze([self.active.index(m) for m in members], **{ending: True})

    def run(self) -> None:
        """Every epoch of every member, as fit runs one; Ctrl-C leaves each with its history and best weights."""
        try:
            for epoch in range(1, self.shared.epochs + 1):
                if self.active:
                    self.train_epoch()
                if self.active:
                    self._record(epoch)
                self._report(epoch)
        except KeyboardInterrupt:
            for member in self.active:
                self.histories[member].interrupted = True
            self._freeze(list(range(len(self.active))))
            raise
        self._freeze(list(range(len(self.active))))   # members that ran every epoch

    def _report(self, epoch: int) -> None:
        """Pass on the member-epochs done after ``epoch``: a frozen member has done all of its epochs."""
        done = epoch * len(self.active) + self.shared.epochs * (len(self.configs) - len(self.active))
        if self.progress is not None and done > self.reported:
            self.progress(done - self.reported)
            self.reported = done


def _first_argmax(outputs: torch.Tensor) -> torch.Tensor:
    """Index of the largest value along axis 1, the first one when tied (as torch.argmax), as floats.

    Built from fast element-wise ops and ``amax``: on CPU, argmax over a non-last axis
    and element-wise comparisons (bool outputs) are many times slower.
    """
    classes = outputs.shape[1]
    at_max = torch.sign(outputs - outputs.amax(1, keepdim=True)).add_(1)   # 1 at the maxima, else 0
    weights = torch.arange(classes, 0, -1, dtype=outputs.dtype).view(1, -1, *([1] * (outputs.ndim - 2)))
    return classes - at_max.mul_(weights).amax(1)
