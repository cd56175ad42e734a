"""Train many configurations at once: the members' own modules, stacked and vectorised with torch.func.

Members built by any ``model_fn`` (``build_model`` included) with the same structure form a stack: their
parameters fill one flat (M, P) buffer, a row per member, and one template module runs them all through
``vmap(functional_call(...))``, so every layer keeps its one definition. The loss is the sum of the
members' mean losses, so each member's gradient is its own; a small vectorised optimizer (SGD with
momentum, Adam, AdamW, the L1/L2 penalties) updates the buffer with each member's settings.
Dropout masks and noise are drawn outside ``vmap`` from each member's generator, seeded and drawn as in
``fit``, so stochastic members follow ``fit``'s run too; other random layers draw under ``vmap``
(``randomness="different"``): ``fit``'s distribution, not its draws. A member that stops early or
diverges is frozen: written back to its module and dropped from the stack.

``sweep`` trains the networks of a custom ``model_fn`` here, each member on its own replicate's data. The
course's own MLP and CNN still go to ``batched.py``, whose hand-written layers are faster on CPU today
(``benchmarks/bench_engines.py``).
"""
from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from .augment import can_transform, with_augmentation
from .constraints import max_norm_
from .batched import can_batch
from .config import Config
from .data import Dataset
from .environment import usable_cores
from .models import GaussianNoise, build_model
from .penalties import penalized_parameters
from .training import EVAL_CHUNK, EarlyStopping, History, as_tensors, check_run, restore_best
from .validation import check_positive_int

__all__ = ["estimate_member_bytes", "train_stacked"]

MEMORY_BUDGET = 1 << 30   # bytes the running stacks may use (estimated); larger sweeps are split
BETAS, EPS = (0.9, 0.999), 1e-8            # torch.optim.Adam / AdamW defaults, as fit uses them
TINY = 1e-36                               # a normal float32 whose root, even over 1 - β2, vanishes beside EPS


def _shape(data: Dataset) -> tuple[int, int]:
    """(n_inputs, n_outputs) as build_model takes them."""
    y = data.y_train
    n_outputs = data.n_classes if data.is_classification else (y.shape[1] if y.ndim == 2 else 1)
    return int(np.prod(data.x_train.shape[1:])), n_outputs


def _activation_sizes(model: nn.Module, x: torch.Tensor) -> list[int]:
    """Floats per sample of every leaf module's output, from one eval-mode pass over ``x``."""
    sizes, hooks = [], [m.register_forward_hook(lambda m, i, out: sizes.append(out[0].numel()))
                        for m in model.modules() if not list(m.children())]
    training = model.training
    try:
        with torch.no_grad(), torch.random.fork_rng():
            model.eval()(x)
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return sizes


def estimate_member_bytes(config: Config, data: Dataset, model_fn: Callable = build_model) -> int:
    """A generous estimate of the memory one member of a stack needs, in bytes.

    Counted: its parameters about eight times over (stacked weights, gradients and their flat copy, two
    optimizer moments, temporaries, its own module and best weights); its shuffled copy of the training set;
    about four tensors per activation of one training step; its outputs on the largest split.
    """
    with torch.random.fork_rng():   # sizing a member must not move the global RNG
        model = model_fn(config, *_shape(data))
    return _member_bytes(model, config, data)


def _member_bytes(model: nn.Module, config: Config, data: Dataset) -> int:
    """``estimate_member_bytes`` for a member already built."""
    n_inputs, n_outputs = _shape(data)
    sizes = _activation_sizes(model, torch.zeros(1, *data.x_train.shape[1:]))
    largest = max(len(x) for x in (data.x_train, data.x_val, data.x_test) if x is not None)
    floats = (8 * sum(p.numel() for p in model.parameters()) + len(data.x_train) * (n_inputs + 2)
              + config.batch_size * 4 * sum(sizes) + largest * 4 * n_outputs)
    return 4 * floats


def train_stacked(configs: Sequence[Config], data: Dataset | Sequence[Dataset], *, memory_budget: int | None = None,
                  workers: int | None = None, progress: Callable[[int], None] | None = None,
                  augmentation: nn.Module | None = None,
                  model_fn: Callable | None = None) -> list[tuple[History, nn.Module]]:
    """Train every configuration as a member of a stack; return ``(history, model)`` per configuration.

    Each pair is what ``fit(model_fn(config, ...), data, config)`` gives, up to float rounding. ``data`` is one
    ``Dataset`` for every member, or one per configuration (a replicate's own draw), all of the same sizes. Without
    ``model_fn``, members are ``build_model``'s, behind ``augmentation`` if given (``with_augmentation``).
    Stacks train ``workers`` at a time (default: one per usable core), the running ones estimated under
    ``memory_budget`` bytes. ``progress(n)``: ``n`` more member-epochs are done (called from the workers).
    Ctrl-C ends training cleanly: every member keeps its history so far and, as in ``fit``, its best weights.
    """
    configs = [configs] if isinstance(configs, Config) else list(configs)
    ok, reason = can_batch(configs)
    if not ok:
        raise ValueError(f"these configurations cannot be trained as one batch: {reason}")
    datasets = [data] * len(configs) if isinstance(data, Dataset) else list(data)
    if len(datasets) != len(configs):
        raise ValueError(f"give one Dataset, or one per configuration; got {len(datasets)} for {len(configs)}")
    for config, dataset in zip(configs, datasets):
        check_run(config, dataset)
    if len({_sizes(d) for d in datasets}) > 1:
        raise ValueError("the members' datasets differ in size or shape; members of a stack need equal sizes: "
                         f"{sorted({_sizes(d) for d in datasets})}")
    data = datasets[0]
    if not can_transform(augmentation):
        raise ValueError(f"augmentation must be made of course_utils.augment layers (Compose, RandomShift, ...) "
                         f"to be batched; got {augmentation!r:.80}. Train it with fit, or sweep(batched=False)")
    budget = check_positive_int(MEMORY_BUDGET if memory_budget is None else memory_budget, "memory_budget")
    workers = check_positive_int(usable_cores() if workers is None else workers, "workers")
    build = model_fn or with_augmentation(augmentation)
    models = [build(c, *_shape(data)) for c in configs]   # reseeds the global RNG, as fit's caller does
    networks = [m[1] if augmentation is not None else m for m in models]
    histories = [History() for _ in configs]
    tensors = {id(d): {split: as_tensors(getattr(d, f"x_{split}"), getattr(d, f"y_{split}"))
                       for split in ("train", "val") if getattr(d, f"x_{split}") is not None} for d in datasets}
    workers = min(workers, len(configs))
    size = max(1, min(math.ceil(len(configs) / workers),
                      budget // (_member_bytes(networks[0], configs[0], data) * workers)))
    stacks = [chunk for group in _structures(networks) for chunk in _chunks(group, size)]
    stop = threading.Event()   # set on Ctrl-C or an error: every stack still training ends at its next step

    def train(members: list[int]) -> None:
        if parallel:   # in each worker thread too: OpenMP (oneDNN's convolutions) reads its own setting
            torch.set_num_threads(1)
        if not stop.is_set():
            try:
                splits = {split: tuple(torch.stack([tensors[id(datasets[i])][split][k] for i in members])
                                       for k in (0, 1)) for split in tensors[id(data)]}
                _Stack([configs[i] for i in members], [models[i] for i in members],
                       [histories[i] for i in members], splits, stop, progress, augmentation).run()
            except BaseException:
                stop.set()
                raise

    interrupted, threads, parallel = False, torch.get_num_threads(), workers > 1 and len(stacks) > 1
    try:
        if parallel:
            torch.set_num_threads(1)   # one core per worker
        with ThreadPoolExecutor(min(workers, len(stacks)), thread_name_prefix="sweep") as pool:
            for result in [pool.submit(train, members) for members in stacks] if parallel else stacks:
                try:
                    result.result() if parallel else train(result)
                except KeyboardInterrupt:   # here or in a worker: stop them all, keep what they learned
                    stop.set()
                    interrupted = True
    finally:
        torch.set_num_threads(threads)
    if interrupted:
        for history in histories:
            history.interrupted = True
        print(f"Training interrupted: all {len(configs)} member(s) keep their history so far "
              "and, where fit would, their best weights.")
    return list(zip(histories, models))


def _sizes(data: Dataset) -> tuple:
    """The shapes of a dataset's training and validation arrays: what members of one stack must share."""
    return tuple(None if getattr(data, name) is None else tuple(getattr(data, name).shape)
                 for name in ("x_train", "y_train", "x_val", "y_val"))


def _structures(networks: list[nn.Module]) -> list[list[int]]:
    """Members whose modules stack: the same layers, dropout and noise layers alike whatever their rate."""
    groups: dict[tuple, list[int]] = {}
    for i, network in enumerate(networks):
        key = tuple((name, type(m).__name__, "" if isinstance(m, (nn.Dropout, GaussianNoise)) else m.extra_repr())
                    for name, m in network.named_modules())
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _chunks(members: list[int], size: int) -> list[list[int]]:
    """``members`` in balanced chunks of at most ``size``."""
    size = math.ceil(len(members) / math.ceil(len(members) / size))
    return [members[i:i + size] for i in range(0, len(members), size)]


class _Drawn(nn.Module):
    """Stands in for a dropout or noise layer in the template: applies each member's draw, made outside vmap."""

    def __init__(self, site: int, draws: dict):
        super().__init__()
        self.site, self.draws = site, draws

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if "shapes" in self.draws:                    # the probe records where and how much is drawn
            self.draws["shapes"].append((self.site, tuple(x.shape)))
            return x
        if not self.training:
            return x
        kind, draw = self.draws[self.site]
        return x * draw if kind == "dropout" else x + draw


class _Stack:
    """Members of one structure trained together; fills their histories and modules in place.

    Row r of every stacked parameter tensor is member ``self.active[r]`` (a position in this stack's lists);
    ``splits`` holds each member's own data, (inputs, targets) of shape (members, n, ...), by that position.
    """

    def __init__(self, configs, models, histories, splits, stop, progress, augmentation):
        self.configs, self.models, self.histories, self.splits = configs, models, histories, splits
        self.networks = networks = [m[1] for m in models] if augmentation is not None else models
        self.stop, self.progress, self.augmentation, self.reported = stop, progress, augmentation, 0
        self.spec, self.active, self.epoch_data = configs[0], list(range(len(configs))), None
        self.stoppers = [EarlyStopping(c.patience, c.min_delta) for c in configs]
        self.order_generators = [torch.Generator().manual_seed(c.seed) for c in configs]   # batch order, as fit
        self.generators = [torch.Generator().manual_seed(c.seed) for c in configs]         # fit's global stream
        self.draws: dict = {}
        self.template = copy.deepcopy(networks[0])
        self.sites = []   # (kind, each member's layer) of every dropout or noise layer, replaced by _Drawn
        for name, module in list(self.template.named_modules()):
            if isinstance(module, (nn.Dropout, GaussianNoise)):
                layers = [dict(n.named_modules())[name] for n in networks]
                self.sites.append(("dropout" if isinstance(module, nn.Dropout) else "noise", layers))
                parent, _, child = name.rpartition(".")
                setattr(self.template.get_submodule(parent), child, _Drawn(len(self.sites) - 1, self.draws))
        self.shapes: dict[int, list] = {}   # batch size -> [(site, shape)] in the order the forward draws
        self.batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.template.modules())
        self._stack()
        self.step_fn = vmap(self._member_outputs, randomness="different")

    def _stack(self) -> None:
        """Copy the members' parameters into the flat (M, P) buffer (penalized ones first) and stack buffers."""
        # By name, not with torch.func.stack_module_state, which also demands one class object: a class
        # defined inside a model_fn is a new one at every call, yet its members stack all the same.
        params, buffers = ({name: torch.stack([dict(getattr(n, kind)())[name].detach() for n in self.networks])
                            for name, _ in getattr(self.networks[0], kind)()}
                           for kind in ("named_parameters", "named_buffers"))
        # Frozen parameters (requires_grad=False) are constants, as fit's optimizer and penalties leave them.
        buffers.update({name: params.pop(name) for name, p in self.networks[0].named_parameters()
                        if not p.requires_grad})
        penalized = {id(p) for p in penalized_parameters(self.template, self.spec.penalize_biases)}
        named = dict(self.template.named_parameters())
        self.names = sorted(params, key=lambda n: id(named[n]) not in penalized)   # stable: penalized first
        self.n_penalized = sum(named[n].numel() for n in self.names if id(named[n]) in penalized)
        self.sizes = [named[n].numel() for n in self.names]
        self.flat = torch.cat([params[n].detach().flatten(1) for n in self.names], dim=1)
        self.buffers = {name: b.clone() for name, b in buffers.items()}
        self.hyper = {name: torch.tensor([[float(getattr(c, name))] for c in self.configs], dtype=torch.float64)
                      for name in ("lr", "momentum", "weight_decay", "l1", "l2")}
        self.moments: list[torch.Tensor] = []   # SGD: the momentum buffer; Adam: the two moments
        self.adam_steps = 0
        self._bind()

    def _bind(self) -> None:
        """Parameter leaves as views of ``flat`` (the optimizer's updates reach them), per-member constants."""
        named, columns = dict(self.template.named_parameters()), self.flat.split(self.sizes, dim=1)
        self.params = {name: view.view(len(self.active), *named[name].shape).detach().requires_grad_()
                       for name, view in zip(self.names, columns)}
        h = {name: values[self.active] for name, values in self.hyper.items()}
        self.any = {name: bool((values != 0).any()) for name, values in h.items()}
        self.h = {name: values.float() for name, values in h.items()}
        self.neg_lr = -self.h["lr"]
        self.decoupled = (1 - h["lr"] * h["weight_decay"]).float()   # AdamW: p *= 1 - lr·wd

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
            for name, target in self.networks[self.active[row]].state_dict(keep_vars=True).items():
                target.copy_((self.params if name in self.params else self.buffers)[name][row])

    def _freeze(self, rows: list[int], written: bool = False, **ending) -> None:
        """End the given rows' runs as fit would (write back, restore the best) and drop them from the stack."""
        for row in rows:
            member = self.active[row]
            if not written:
                self._write_back(row)
            for name, value in ending.items():
                setattr(self.histories[member], name, value)
            restore_best(self.models[member], self.histories[member], self.configs[member])
        self._select([row for row in range(len(self.active)) if row not in rows])

    def _member_outputs(self, params, buffers, x, draws=()):
        for site, draw in enumerate(draws):   # read by the _Drawn layers
            self.draws[site] = (self.sites[site][0], draw)
        return functional_call(self.template, (params, buffers), (x,))

    def _losses(self, outputs: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        """Each member's mean loss (M,) from outputs (M, n, outputs) and targets (M, n[, k])."""
        M = len(outputs)
        if y.dtype != torch.int64:
            return ((outputs.reshape(y.shape) - y) ** 2).reshape(M, -1).mean(1)
        # Out of vmap, on (M·n, classes): log-softmax along the last axis is torch's fast case.
        losses = F.cross_entropy(outputs.reshape(-1, outputs.shape[2]), y.reshape(-1), reduction="none",
                                 label_smoothing=smoothing)
        return losses.view(M, -1).mean(1)

    def _draw(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each site's draws (M, *shape), each member's from its generator in the order fit's forward draws."""
        if len(x[0]) not in self.shapes:
            self.draws["shapes"] = []
            _activation_sizes(self.template, x[0])
            self.shapes[len(x[0])] = self.draws.pop("shapes")
        draws = {}
        for site, shape in self.shapes[len(x[0])]:
            kind, layers = self.sites[site]
            out = draws[site] = torch.ones(len(self.active), *shape)
            for row, member in enumerate(self.active):
                generator, layer = self.generators[member], layers[member]
                if kind == "noise":
                    out[row] = layer.transform(out[row].zero_(), generator)
                elif layer.p > 0:   # as torch's dropout draws on CPU: a Bernoulli(1 - p) mask over 1 - p
                    out[row].bernoulli_(1 - layer.p, generator=generator).div_(1 - layer.p)
        return [draws[site] for site in range(len(self.sites))]

    @torch.no_grad()
    def evaluate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Eval-mode loss and accuracy of every active member on a whole split, as fit records them.

        Member by member, in fit's slices: without vmap, a linear layer is one fused product and a
        convolution an ordinary one, which on CPU is three times faster than their vmapped forms.
        """
        x, y = (t[self.active] for t in self.splits[split])
        self.template.eval()
        outputs = torch.stack([torch.cat([self._member_outputs(
            {name: p[row] for name, p in self.params.items()}, {name: b[row] for name, b in self.buffers.items()},
            x[row, i:i + EVAL_CHUNK]) for i in range(0, x.shape[1], EVAL_CHUNK)]) for row in range(len(self.active))])
        loss = self._losses(outputs, y).numpy()
        if y.dtype != torch.int64:
            return loss, np.full(len(loss), math.nan)
        return loss, (outputs.argmax(2) == y).float().mean(1).numpy()

    @torch.no_grad()
    def step(self) -> None:
        """One update of every active member, then each one's max-norm constraint, as fit's train_epoch."""
        self._update()
        bounds = [self.configs[member].max_norm for member in self.active]
        if any(bound is not None for bound in bounds):
            c = torch.tensor([math.inf if bound is None else bound for bound in bounds])
            for name, leaf in self.params.items():
                if leaf.ndim >= 3:   # a member's weight matrix or kernel: fit's penalized_parameters(model)
                    max_norm_(leaf.detach(), c, batch_dims=1)

    def _update(self) -> None:
        """The optimizer's step for every active member, with torch.optim's formulas on the flat (M, P) buffer."""
        M, p, n, h = len(self.active), self.flat, self.n_penalized, self.h
        grad = torch.cat([self.params[name].grad.reshape(M, -1) for name in self.names], dim=1)
        for leaf in self.params.values():
            leaf.grad = None
        if self.any["l1"]:   # d/dw of l1·Σ|w|, as autograd differentiates fit's penalty
            grad[:, :n].addcmul_(torch.sign(p[:, :n]), h["l1"])
        if self.any["l2"]:   # d/dw of l2/2·Σw²
            grad[:, :n].addcmul_(p[:, :n], h["l2"])
        optimizer = self.spec.optimizer
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
        self.adam_steps += 1
        m.lerp_(grad, 1 - beta1)
        # Kept above TINY: below it v is invisible beside EPS, and its subnormal values slow every pass 30-fold.
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2).clamp_min_(TINY)
        denominator = v.sqrt().div_((1 - beta2 ** self.adam_steps) ** 0.5).add_(EPS)
        p.addcdiv_(m * (self.neg_lr / (1 - beta1 ** self.adam_steps)), denominator)

    def train_epoch(self) -> None:
        """One pass over each member's own shuffle of the training set, in fit's batches."""
        x, y = self.splits["train"]
        n, size = x.shape[1], self.spec.batch_size
        order = torch.stack([torch.randperm(n, generator=self.order_generators[m]) for m in self.active])
        rows = torch.tensor(self.active)[:, None]
        self.epoch_data = (x[rows, order], y[rows, order])   # one gather per epoch; each batch is then a slice
        self.template.train()
        for start in range(0, n, size):
            if self.stop.is_set():   # Ctrl-C or an error reached another thread
                raise KeyboardInterrupt
            if self.batch_norm and min(start + size, n) - start < 2:   # as fit: one sample has no batch statistics
                continue
            inputs, targets = (t[:, start:start + size] for t in self.epoch_data)
            if self.augmentation is not None:   # the first draws of each member's step, as in fit
                inputs = torch.stack([self.augmentation.transform(inputs[row], self.generators[member])
                                      for row, member in enumerate(self.active)])
            outputs = self.step_fn(self.params, self.buffers, inputs, self._draw(inputs))
            losses = self._losses(outputs, targets, self.spec.label_smoothing)
            finite = torch.isfinite(losses)
            diverged = [] if bool(finite.all()) else torch.nonzero(~finite).flatten().tolist()
            for row in diverged:   # fit stops before this step: these members keep their weights as they are
                self._write_back(row)
            torch.where(finite, losses, 0.0).sum().backward()
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
        try:
            for epoch in range(1, self.spec.epochs + 1):
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
        done = epoch * len(self.active) + self.spec.epochs * (len(self.configs) - len(self.active))
        if self.progress is not None and done > self.reported:
            self.progress(done - self.reported)
            self.reported = done
