"""Time the two sweep engines side by side in one process, and what stacking buys a custom network.

1. bench_sweep.py's task (MNIST-1D, 20 epochs, a 16-configuration sweep of seeds × weight decays), on one
   core (one worker, one thread) and on every usable core (one worker per core):
   - the course's MLP trained by batched.py's layer rules (what sweep uses) and by vmap (stacked.py): the
     rules are kept while vmap costs more than GUARD times their time per model;
   - the course's CNN, which trains stacked, with vmap's own rules for its layers and with those of
     stacked_layers.py (the batched products sweep uses).
2. A network the course does not define (a residual MLP, ordinary torch layers, given as ``model_fn``):
   ``sweep`` trains 16 of them stacked, against ``sweep(batched=False)``, which trains each alone with fit.

The engines alternate run by run, so a busy machine slows both alike; each figure is the best of
--repeats by wall time, with process CPU time beside it. This prints figures; it asserts nothing.

Usage: python benchmarks/bench_engines.py [--repeats N] [--epochs N] [--skip-cnn]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np
import torch
from torch import nn

import course_utils as cu
from bench_sweep import CNN, MLP, sweep_configs
from course_utils import stacked
from course_utils.batched import train_batched
from course_utils.environment import usable_cores
from course_utils.stacked import train_stacked

GUARD = 1.15   # the MLP's: above it, batched.py's layer rules earn their code


class ResidualMLP(nn.Module):
    """40-100-100-10 with a skip connection around the second layer (MNIST-1D paper's MLP)."""

    def __init__(self, n_inputs: int, n_outputs: int):
        super().__init__()
        self.first, self.second, self.readout = nn.Linear(n_inputs, 100), nn.Linear(100, 100), nn.Linear(100, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.first(x).relu()
        return self.readout(h + self.second(h).relu())


def residual_mlp(config: cu.Config, n_inputs: int, n_outputs: int) -> nn.Module:
    torch.manual_seed(config.seed)
    return ResidualMLP(n_inputs, n_outputs)


def vmap_rules(configs, data, workers: int) -> None:
    """train_stacked with vmap's own rules for every layer: stacked_layers' swap turned off."""
    swap = stacked.stack_layers
    stacked.stack_layers = lambda module: module
    try:
        train_stacked(configs, data, workers=workers)
    finally:
        stacked.stack_layers = swap


def per_model(train, n_models: int) -> tuple[float, float]:
    """Wall and process CPU seconds per model (CPU time is less sensitive to other processes' load)."""
    wall, cpu = time.perf_counter(), time.process_time()
    train()
    return (time.perf_counter() - wall) / n_models, (time.process_time() - cpu) / n_models


def side_by_side(name: str, ways: dict, n_models: int, repeats: int, guard: float | None) -> None:
    runs = {way: [] for way in ways}
    for _ in range(repeats):
        for way, train in ways.items():
            runs[way].append(per_model(train, n_models))
    (first, (wall, cpu)), (second, (new_wall, new_cpu)) = ((way, np.min(runs[way], axis=0)) for way in ways)
    verdict = "" if guard is None else f" ({'met' if new_wall / wall <= guard else 'MISSED'}: <= {guard})"
    print(f"{name}, load {os.getloadavg()[0]:.1f}: s/model wall (CPU) {first} {wall:.3f} ({cpu:.3f}), "
          f"{second} {new_wall:.3f} ({new_cpu:.3f}); ratio wall {new_wall / wall:.2f}, CPU {new_cpu / cpu:.2f}"
          f"{verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args()
    cu.setup(0)
    data = cu.load_mnist1d()
    cores, threads = usable_cores(), torch.get_num_threads()
    tasks = {"MLP": MLP} if args.skip_cnn else {"MLP": MLP, "CNN": CNN}
    for task, base in tasks.items():
        configs = sweep_configs(dataclasses.replace(base, epochs=args.epochs), 16)
        for workers in sorted({1, cores}):
            torch.set_num_threads(1 if workers == 1 else threads)
            if task == "MLP":
                ways = {"layer rules": lambda: train_batched(configs, data, workers=workers),
                        "vmap": lambda: train_stacked(configs, data, workers=workers)}
            else:
                ways = {"vmap's rules": lambda: vmap_rules(configs, data, workers),
                        "stacked_layers": lambda: train_stacked(configs, data, workers=workers)}
            side_by_side(f"{task}, {workers} worker(s)", ways, len(configs), args.repeats,
                         GUARD if task == "MLP" else None)
    torch.set_num_threads(threads)
    configs = {f"wd={wd:g}": dataclasses.replace(MLP, epochs=args.epochs, weight_decay=wd)
               for wd in (0.0, 1e-4, 1e-3, 1e-2)}
    ways = {"alone (fit)": lambda: cu.sweep(configs, data, seeds=range(4), model_fn=residual_mlp,
                                            batched=False, progress=False),
            "stacked": lambda: cu.sweep(configs, data, seeds=range(4), model_fn=residual_mlp, progress=False)}
    side_by_side("residual MLP as model_fn, 16 runs, every core", ways, 16, args.repeats, None)


if __name__ == "__main__":
    main()
