"""Time batched sweeps against one fit, an idiomatic DataLoader loop and scikit-learn; print the figures.

Task: MNIST-1D, 20 epochs, batch 100, Adam (lr 1e-3), for
  * the MLP 40-100-100-10, and
  * the course's 1-D CNN (three conv layers of 25 channels, kernel 5, stride 2).
Ways to train it:
  1. course_utils.fit, one model;
  2. course_utils.batched.train_batched with 16 and with 32 configurations (seeds × weight decays),
     reported per model;
  3. the idiomatic PyTorch loop over a DataLoader (no per-epoch evaluation);
  4. scikit-learn's MLPClassifier, same architecture and schedule (MLP only; no per-epoch evaluation).
fit and the sweeps evaluate the training set in eval mode after every epoch, as their History needs.

Two rounds: on one core (one torch thread everywhere, the sweep with one worker), and on every core
(fit, the loop and scikit-learn with as many threads as cores, the sweep with one worker per core).
Each figure is the best of REPEATS runs by wall time (and, on one core, by process CPU time too).

Arithmetic is counted exactly, in multiply-adds per sample: a forward pass, the weight gradients, and
the input gradients of every layer but the first (nobody needs the gradient of the data); the sweep's
evaluation adds one forward pass per sample and epoch. The arithmetic rate divides all of it by the
sweep's time and compares it with one large single-thread matrix product measured in the same run. The
same count gives each target's floor: the time the arithmetic alone takes at that matmul rate.
This prints figures; it asserts nothing.

Usage: python benchmarks/bench_sweep.py [--repeats N] [--skip-cnn]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader, TensorDataset

import course_utils as cu
from course_utils.batched import train_batched, usable_cores

EPOCHS, BATCH, LR = 20, 100, 1e-3
MLP = cu.Config(model="mlp", hidden=(100, 100), epochs=EPOCHS, batch_size=BATCH, lr=LR)
CNN = cu.Config(model="cnn", hidden=(25, 25, 25), epochs=EPOCHS, batch_size=BATCH, lr=LR)
DECAYS = (0.0, 1e-4, 1e-3, 1e-2)
SIZES = (16, 32)


@dataclasses.dataclass
class Timing:
    wall: float
    cpu: float


def best_of(run, repeats: int) -> Timing:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(min(walls), min(cpus))


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of one large single-thread float32 matrix product (best of a few, by CPU time)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(best_of(lambda: torch.mm(a, b), 1).cpu for _ in range(repeats))
    return 2 * size ** 3 / best


def layer_multiply_adds(config: cu.Config, n_inputs: int, n_outputs: int) -> list[int]:
    """Multiply-adds of each layer's forward pass for one sample."""
    if config.model == "mlp":
        widths = (n_inputs, *config.hidden, n_outputs)
        return [a * b for a, b in zip(widths, widths[1:])]
    layers, length, channels = [], n_inputs, 1
    for out in config.hidden:
        length = (length - 1) // 2 + 1
        layers.append(out * channels * 5 * length)
        channels = out
    return layers + [channels * length * n_outputs]


def sweep_flops(config: cu.Config, n_train: int) -> tuple[float, float]:
    """FLOPs of one member's training, and of its per-epoch evaluation of the training set."""
    layers = layer_multiply_adds(config, 40, 10)
    training = 3 * sum(layers) - layers[0]          # forward, weight gradients, input gradients but the first
    return 2.0 * training * n_train * EPOCHS, 2.0 * sum(layers) * n_train * EPOCHS


def sweep_configs(base: cu.Config, size: int) -> list[cu.Config]:
    return [dataclasses.replace(base, seed=i, weight_decay=DECAYS[i % len(DECAYS)]) for i in range(size)]


def dataloader_loop(config: cu.Config, data: cu.Dataset) -> None:
    model = cu.build_model(config, 40, 10)
    loader = DataLoader(TensorDataset(torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)),
                        batch_size=BATCH, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss_fn(model(xb), yb).backward()
            optimizer.step()


def sklearn_mlp(data: cu.Dataset) -> None:
    model = MLPClassifier(hidden_layer_sizes=MLP.hidden, batch_size=BATCH, learning_rate_init=LR,
                          max_iter=EPOCHS, shuffle=True, random_state=0, n_iter_no_change=EPOCHS + 1, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the epoch budget on purpose
        model.fit(data.x_train, data.y_train)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def time_methods(base: cu.Config, data: cu.Dataset, repeats: int, cores: int, with_sklearn: bool) -> dict:
    """Per-model timings of every method, with ``cores`` threads (baselines) or workers (sweeps)."""
    torch.set_num_threads(cores)
    with threadpool_limits(cores):
        times = {"fit (one model)": best_of(lambda: cu.fit(cu.build_model(base, 40, 10), data, base,
                                                           progress=False), repeats),
                 "DataLoader loop": best_of(lambda: dataloader_loop(base, data), repeats)}
        if with_sklearn:
            times["sklearn MLPClassifier"] = best_of(lambda: sklearn_mlp(data), repeats)
    torch.set_num_threads(1)
    for size in SIZES:
        configs = sweep_configs(base, size)
        t = best_of(lambda: train_batched(configs, data, workers=cores), repeats)
        times[f"sweep of {size}"] = Timing(t.wall / size, t.cpu / size)
    return times


def report(name: str, base: cu.Config, data: cu.Dataset, rate: float, repeats: int, cores: int,
           with_sklearn: bool) -> dict:
    clocks = ("wall", "cpu") if cores == 1 else ("wall",)   # CPU time adds up the cores: only wall compares
    print(f"\n== {name}, {'one core' if cores == 1 else f'{cores} cores'}: {EPOCHS} epochs, batch {BATCH}, "
          f"Adam; best of {repeats}")
    times = time_methods(base, data, repeats, cores, with_sklearn)
    print(f"{'method':<24}" + "".join(f"{clock + ' s/model':>14}" for clock in clocks))
    for method, t in times.items():
        print(f"{method:<24}" + "".join(f"{getattr(t, clock):>14.3f}" for clock in clocks))
    training, evaluation = sweep_flops(base, len(data.x_train))
    for size in SIZES:
        per_model = times[f"sweep of {size}"]
        for clock in clocks:
            ratios = [f"{getattr(per_model, clock) / getattr(times[m], clock):.3f} of {m.split(' (')[0]}"
                      for m in times if not m.startswith("sweep")]
            print(f"sweep of {size}, {clock}: one model costs {', '.join(ratios)}; the whole sweep costs "
                  f"{getattr(per_model, clock) * size / getattr(times['fit (one model)'], clock):.1f} fits")
        if cores == 1:
            share = (training + evaluation) / per_model.cpu / rate
            print(f"sweep of {size}: arithmetic rate {share * rate / 1e9:.1f} GFLOP/s = {share:.0%} of the matmul "
                  f"rate (training {training / 1e9:.2f} + evaluation {evaluation / 1e9:.2f} GFLOP per model)")
    return times


def targets(mlp: dict, rate: float, cores: int, data: cu.Dataset) -> None:
    """The issue's targets for the MLP, each with the floor that the arithmetic alone sets."""
    training, evaluation = sweep_flops(MLP, len(data.x_train))
    floor = (training + evaluation) / (rate * cores)      # seconds per model at the matmul rate, every core busy
    per_model = mlp["sweep of 16"].wall
    loop, sk, fit = (mlp[m].wall for m in ("DataLoader loop", "sklearn MLPClassifier", "fit (one model)"))
    print(f"\nTargets, MLP, {'one core' if cores == 1 else f'{cores} cores'} (wall; floor = the sweep's "
          f"arithmetic at {cores} × the matmul rate = {floor:.3f} s/model):")
    print(f"  16-sweep model <= 1/15 DataLoader loop: {per_model * 15 / loop:.2f}/15 {verdict(per_model <= loop / 15)}"
          f" (floor {floor * 15 / loop:.2f}/15)")
    print(f"  16-sweep model <= 1/4 MLPClassifier:    {per_model * 4 / sk:.2f}/4 {verdict(per_model <= sk / 4)}"
          f" (floor {floor * 4 / sk:.2f}/4)")
    ratio32 = mlp["sweep of 32"].wall * 32 / fit
    print(f"  32-sweep <= 8 fits:                     {ratio32:.1f} {verdict(ratio32 <= 8)}")
    if cores == 1:
        share = (training + evaluation) / mlp["sweep of 32"].cpu / rate
        print(f"  32-sweep arithmetic rate >= 50%:        {share:.0%} {verdict(share >= 0.5)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args()
    cu.setup(0)
    data = cu.load_mnist1d()
    cores = usable_cores()
    print(f"{platform.processor() or platform.machine()}, {cores} usable cores, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}; torch {torch.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}")
    rate = matmul_rate()
    print(f"single-thread matmul rate (2048², float32): {rate / 1e9:.1f} GFLOP/s")
    rounds = (1, cores) if cores > 1 else (1,)
    gains = {}
    for n in rounds:
        mlp = report("MLP 40-100-100-10", MLP, data, rate, args.repeats, n, with_sklearn=True)
        targets(mlp, rate, n, data)
        gains[n] = {"MLP": mlp["fit (one model)"].wall / mlp["sweep of 16"].wall}
        if not args.skip_cnn:
            cnn = report("1-D CNN 25-25-25", CNN, data, rate, args.repeats, n, with_sklearn=False)
            gains[n]["CNN"] = cnn["fit (one model)"].wall / cnn["sweep of 16"].wall
    print("\nPer-model gain of a 16-sweep over fit (wall): " + "; ".join(
        f"{'one core' if n == 1 else f'{n} cores'}: " + ", ".join(f"{k} {v:.1f}x" for k, v in g.items())
        for n, g in gains.items()))


if __name__ == "__main__":
    main()
