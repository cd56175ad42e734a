"""Time batched sweeps against one fit, an idiomatic DataLoader loop and scikit-learn; print the figures.

Task: MNIST-1D, 20 epochs, batch 100, Adam (lr 1e-3), for
  * the MLP 40-100-100-10, and
  * the course's 1-D CNN (three conv layers of 25 channels, kernel 5, stride 2).
Ways to train it:
  1. course_utils.fit, one model;
  2. the sweep engine with 16 and with 32 configurations (seeds × weight decays), reported per model:
     as sweep trains them: the MLP by course_utils.batched's layer rules, the CNN by course_utils.stacked;
  3. the idiomatic PyTorch loop over a DataLoader (no per-epoch evaluation);
  4. scikit-learn's MLPClassifier, same architecture and schedule (MLP only; no per-epoch evaluation).
fit and the sweeps evaluate the training set in eval mode after every epoch, as their History needs.

Each way runs on one core (one thread; the sweep with one worker) and on every core (fit, the loop
and scikit-learn with as many threads as cores; the sweep with one worker per core). A baseline is
credited with its faster setting: small models often run slower on more threads. Each figure is the
best of REPEATS runs by wall time (process CPU time for the arithmetic rate).

Arithmetic is counted exactly, in multiply-adds per sample: a forward pass, the weight gradients, and
the input gradients of every layer but the first (nobody needs the gradient of the data); the sweep's
evaluation adds one forward pass per sample and epoch. The arithmetic rate divides all of it by the
sweep's time and compares it with one large single-thread matrix product measured in the same run. The
same count gives each target's floor: the time the arithmetic alone takes at that matmul rate; and each
task's ceiling: fit's time over that floor, the largest per-model gain any sweep could reach here.
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
from course_utils.batched import LayeredMembers
from course_utils.members import train_members
from course_utils.stacked import StackedMembers
from course_utils.environment import usable_cores

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
    """{method: {threads or workers: per-model Timing}}, on one core and on ``cores`` cores."""
    baselines = {"fit": lambda: cu.fit(cu.build_model(base, 40, 10), data, base, progress=False),
                 "DataLoader loop": lambda: dataloader_loop(base, data)}
    if with_sklearn:
        baselines["sklearn MLPClassifier"] = lambda: sklearn_mlp(data)
    settings = sorted({1, cores})
    times: dict[str, dict[int, Timing]] = {}
    for method, run in baselines.items():
        for n in settings:
            torch.set_num_threads(n)
            with threadpool_limits(n):
                times.setdefault(method, {})[n] = best_of(run, repeats)
    torch.set_num_threads(1)
    def engine(configs, data, workers):   # as sweep trains them
        return train_members([LayeredMembers, StackedMembers], configs, data, workers=workers)

    for size in SIZES:
        configs = sweep_configs(base, size)
        for n in settings:
            t = best_of(lambda: engine(configs, data, workers=n), repeats)
            times.setdefault(f"sweep of {size}", {})[n] = Timing(t.wall / size, t.cpu / size)
    return times


def best(times: dict[int, Timing]) -> float:
    """A baseline's wall time per model at its faster setting."""
    return min(t.wall for t in times.values())


def report(name: str, base: cu.Config, data: cu.Dataset, rate: float, repeats: int, cores: int,
           with_sklearn: bool) -> dict:
    print(f"\n== {name}: {EPOCHS} epochs, batch {BATCH}, Adam; wall seconds per model, best of {repeats}")
    times = time_methods(base, data, repeats, cores, with_sklearn)
    settings = sorted({1, cores})
    print(f"{'method':<24}" + "".join(f"{f'{n} thread(s)/worker(s)':>24}" for n in settings))
    for method, by_setting in times.items():
        print(f"{method:<24}" + "".join(f"{by_setting[n].wall:>24.3f}" for n in settings))
    baselines = [m for m in times if not m.startswith("sweep")]
    training, evaluation = sweep_flops(base, len(data.x_train))
    for size in SIZES:
        for n in settings:
            per_model = times[f"sweep of {size}"][n].wall
            ratios = ", ".join(f"{per_model / best(times[m]):.3f} of {m}" for m in baselines)
            print(f"sweep of {size}, {n} worker(s): one model costs {ratios} (each at its faster setting); "
                  f"the whole sweep costs {per_model * size / best(times['fit']):.1f} fits")
        share = (training + evaluation) / times[f"sweep of {size}"][1].cpu / rate
        print(f"sweep of {size}, one worker: arithmetic rate {share * rate / 1e9:.1f} GFLOP/s = {share:.0%} of the "
              f"matmul rate (training {training / 1e9:.2f} + evaluation {evaluation / 1e9:.2f} GFLOP per model)")
    return times


def targets(mlp: dict, rate: float, cores: int, data: cu.Dataset) -> None:
    """The MLP targets, for the sweep on one core and on every core, each with its arithmetic floor."""
    training, evaluation = sweep_flops(MLP, len(data.x_train))
    loop, sk, fit = (best(mlp[m]) for m in ("DataLoader loop", "sklearn MLPClassifier", "fit"))
    share = (training + evaluation) / mlp["sweep of 32"][1].cpu / rate
    for n in sorted({1, cores}):
        floor = (training + evaluation) / (rate * n)     # seconds per model at the matmul rate, n cores busy
        per16, per32 = mlp["sweep of 16"][n].wall, mlp["sweep of 32"][n].wall
        print(f"\nTargets, MLP, sweep on {n} core(s) against each baseline at its faster setting "
              f"(floor: the sweep's arithmetic at {n} × the matmul rate, {floor:.3f} s/model):")
        print(f"  16-sweep model <= 1/15 DataLoader loop: {per16 * 15 / loop:.2f}/15 {verdict(per16 <= loop / 15)}"
              f" (floor {floor * 15 / loop:.2f}/15)")
        print(f"  16-sweep model <= 1/4 MLPClassifier:    {per16 * 4 / sk:.2f}/4 {verdict(per16 <= sk / 4)}"
              f" (floor {floor * 4 / sk:.2f}/4)")
        print(f"  32-sweep <= 8 fits:                     {per32 * 32 / fit:.1f} {verdict(per32 * 32 <= 8 * fit)}")
    print(f"  32-sweep arithmetic rate >= 50% (one worker, CPU time): {share:.0%} {verdict(share >= 0.5)}")


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
    mlp = report("MLP 40-100-100-10", MLP, data, rate, args.repeats, cores, with_sklearn=True)
    targets(mlp, rate, cores, data)
    tasks = {"MLP": (MLP, mlp)}
    if not args.skip_cnn:
        tasks["CNN"] = (CNN, report("1-D CNN 25-25-25", CNN, data, rate, args.repeats, cores, with_sklearn=False))
    print("\nPer-model gain of a 16-sweep over fit at its faster setting (ceiling: fit over the sweep's arithmetic "
          "floor on as many cores):")
    for n in sorted({1, cores}):
        gains = []
        for task, (config, times) in tasks.items():
            floor = sum(sweep_flops(config, len(data.x_train))) / (rate * n)
            fit = best(times["fit"])
            gains.append(f"{task} {fit / times['sweep of 16'][n].wall:.1f}x (ceiling {fit / floor:.1f}x)")
        print(f"  {n} worker(s): " + ", ".join(gains))


if __name__ == "__main__":
    main()
