"""How groups of members share the machine: their estimated memory, balanced chunks, and one worker thread
per core.

Both engines (``members.train_members``) size their groups here so that the running ones stay under a memory
budget, and run them with ``run_groups``, which also turns Ctrl-C into a clean stop of every worker.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.utils.deterministic
from torch import nn

from .config import Config
from .data import Dataset
from .models import build_model, model_sizes
from .training import History

__all__ = ["MEMORY_BUDGET", "activation_sizes", "balanced_chunks", "estimate_member_bytes", "member_bytes",
           "run_groups"]

MEMORY_BUDGET = 1 << 30   # bytes the running groups may use (estimated); larger sweeps are split


def activation_sizes(model: nn.Module, x: torch.Tensor) -> list[int]:
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
    """A generous estimate of the memory one member of a group needs in either engine, in bytes.

    Counted: its parameters about eight times over (stacked weights, gradients and their flat copy, two
    optimizer moments, temporaries, its own module and best weights); its shuffled copy of the training set;
    about four tensors per activation of one training step; its outputs on the largest split.
    """
    with torch.random.fork_rng():   # sizing a member must not move the global RNG
        model = model_fn(config, *model_sizes(data))
    return member_bytes(model, config, data)


def member_bytes(model: nn.Module, config: Config, data: Dataset) -> int:
    """``estimate_member_bytes`` for a member already built."""
    n_inputs, n_outputs = model_sizes(data)
    sizes = activation_sizes(model, torch.zeros(1, *data.x_train.shape[1:]))
    largest = max(len(x) for x in (data.x_train, data.x_val, data.x_test) if x is not None)
    floats = (8 * sum(p.numel() for p in model.parameters()) + len(data.x_train) * (n_inputs + 2)
              + config.batch_size * 4 * sum(sizes) + largest * 4 * n_outputs)
    return 4 * floats


def balanced_chunks(members: Sequence[int], size: int) -> list[list[int]]:
    """``members`` in balanced chunks of at most ``size``."""
    members = list(members)
    size = math.ceil(len(members) / math.ceil(len(members) / size))
    return [members[i:i + size] for i in range(0, len(members), size)]


def run_groups(groups: Sequence, train: Callable[[object, threading.Event], None], workers: int,
               histories: Sequence[History]) -> None:
    """Call ``train(group, stop)`` for every group, one worker thread per core when several run at once.

    Ctrl-C (here or in a worker) or an error sets ``stop``: every group still training ends at its next step,
    keeping what it learned; after Ctrl-C every history is marked ``interrupted`` and training returns.
    """
    stop, interrupted = threading.Event(), False
    parallel = workers > 1 and len(groups) > 1

    def guarded(group) -> None:
        if parallel:   # in each worker thread too: OpenMP (oneDNN's convolutions) reads its own setting
            torch.set_num_threads(1)
        if not stop.is_set():
            try:
                train(group, stop)
            except BaseException:
                stop.set()
                raise

    threads = torch.get_num_threads()
    # With deterministic algorithms on, torch fills every new tensor with NaN to expose reads of uninitialised
    # memory; nothing here reads before writing, so that extra pass is skipped.
    fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        if parallel:
            torch.set_num_threads(1)   # one core per worker
        with ThreadPoolExecutor(min(workers, len(groups)), thread_name_prefix="sweep") as pool:
            for result in [pool.submit(guarded, group) for group in groups] if parallel else groups:
                try:
                    result.result() if parallel else guarded(result)
                except KeyboardInterrupt:   # here or in a worker: stop them all, keep what they learned
                    stop.set()
                    interrupted = True
    finally:
        torch.set_num_threads(threads)
        torch.utils.deterministic.fill_uninitialized_memory = fill
    if interrupted:
        for history in histories:
            history.interrupted = True
        print(f"Training interrupted: all {len(histories)} member(s) keep their history so far "
              "and, where fit would, their best weights.")
