"""Time batched sweeps against one fit, an idiomatic DataLoader loop and scikit-learn; print the figures.

Task: MNIST-1D, 20 epochs, batch 100, Adam (lr 1e-3), one torch thread, for
  * the MLP 40-100-100-10, and
  * the course's 1-D CNN (three conv layers of 25 channels, kernel 5, stride 2).
Ways to train it:
  1. course_utils.fit, one model;
  2. course_utils.batched.train_batched with 16 and with 32 configurations (seeds × weight decays),
     reported per model;
  3. the idiomatic PyTorch loop over a DataLoader (no per-epoch evaluation);
  4. scikit-learn's MLPClassifier, same architecture and schedule (MLP only; no per-epoch evaluation).
fit and the sweeps evaluate the training set in eval mode after every epoch, as their History needs.

Each figure is the best of REPEATS runs, as wall time and as process CPU time (the CPU time is
what the run itself used; on a machine shared with other work the wall time also counts waiting).
The sweep's arithmetic rate counts the training arithmetic only, 3 × 2 × multiply-adds per sample
(forward, and a backward of about twice the forward) × samples × epochs, and is given as a fraction
of the rate of one large single-thread matrix product measured in the same run.
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
from torch.utils.data import DataLoader, TensorDataset

import course_utils as cu
from course_utils.batched import train_batched

EPOCHS, BATCH, LR = 20, 100, 1e-3
MLP = cu.Config(model="mlp", hidden=(100, 100), epochs=EPOCHS, batch_size=BATCH, lr=LR)
CNN = cu.Config(model="cnn", hidden=(25, 25, 25), epochs=EPOCHS, batch_size=BATCH, lr=LR)
DECAYS = (0.0, 1e-4, 1e-3, 1e-2)


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


def multiply_adds(config: cu.Config, n_inputs: int, n_outputs: int) -> int:
    """Multiply-adds of one forward pass of one sample."""
    if config.model == "mlp":
        widths = (n_inputs, *config.hidden, n_outputs)
        return sum(a * b for a, b in zip(widths, widths[1:]))
    total, length, channels = 0, n_inputs, 1
    for out in config.hidden:
        length = (length - 1) // 2 + 1
        total += out * channels * 5 * length
        channels = out
    return total + channels * length * n_outputs


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


def bench(name: str, base: cu.Config, data: cu.Dataset, rate: float, repeats: int, with_sklearn: bool) -> dict:
    print(f"\n== {name}: {EPOCHS} epochs, batch {BATCH}, Adam; best of {repeats}")
    times = {"fit (one model)": best_of(lambda: cu.fit(cu.build_model(base, 40, 10), data, base, progress=False),
                                        repeats),
             "DataLoader loop": best_of(lambda: dataloader_loop(base, data), repeats)}
    if with_sklearn:
        times["sklearn MLPClassifier"] = best_of(lambda: sklearn_mlp(data), repeats)
    for size in (16, 32):
        configs = sweep_configs(base, size)
        times[f"sweep of {size}"] = best_of(lambda: train_batched(configs, data), repeats)
    print(f"{'method':<24}{'wall s':>9}{'cpu s':>9}{'wall s/model':>14}{'cpu s/model':>13}")
    for method, t in times.items():
        models = int(method.split()[-1]) if method.startswith("sweep") else 1
        print(f"{method:<24}{t.wall:>9.2f}{t.cpu:>9.2f}{t.wall / models:>14.3f}{t.cpu / models:>13.3f}")

    fit_time, loop_time = times["fit (one model)"], times["DataLoader loop"]
    flops = 6 * multiply_adds(base, 40, 10) * len(data.x_train) * EPOCHS
    print()
    for size in (16, 32):
        t = times[f"sweep of {size}"]
        for clock in ("wall", "cpu"):
            per_model = getattr(t, clock) / size
            line = (f"sweep of {size}, {clock:>4}: one model costs "
                    f"{per_model / getattr(fit_time, clock):.3f} of a fit, "
                    f"{per_model / getattr(loop_time, clock):.3f} of the DataLoader loop")
            if with_sklearn:
                line += f", {per_model / getattr(times['sklearn MLPClassifier'], clock):.3f} of MLPClassifier"
            print(line + f"; the whole sweep costs {getattr(t, clock) / getattr(fit_time, clock):.1f} fits")
        arithmetic = flops * size / t.cpu
        print(f"sweep of {size}: arithmetic rate {arithmetic / 1e9:.1f} GFLOP/s = {arithmetic / rate:.0%} of the "
              f"matmul rate (training arithmetic only, by CPU time; {flops * size * 4 / 3 / t.cpu / rate:.0%} "
              f"counting the per-epoch evaluation too)")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args()
    cu.setup(0)
    data = cu.load_mnist1d()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread, {torch.backends.cpu.get_cpu_capability()}")
    rate = matmul_rate()
    print(f"single-thread matmul rate (2048², float32): {rate / 1e9:.1f} GFLOP/s")

    mlp = bench("MLP 40-100-100-10", MLP, data, rate, args.repeats, with_sklearn=True)
    per16 = mlp["sweep of 16"]
    print("\nIssue targets (MLP):")
    for clock in ("wall", "cpu"):
        per_model = getattr(per16, clock) / 16
        loop, sk = getattr(mlp["DataLoader loop"], clock), getattr(mlp["sklearn MLPClassifier"], clock)
        ratio32 = getattr(mlp["sweep of 32"], clock) / getattr(mlp["fit (one model)"], clock)
        print(f"  {clock:>4}: 16-sweep model <= 1/15 DataLoader loop: {per_model * 15 / loop:.2f}/1 "
              f"{verdict(per_model <= loop / 15)}; <= 1/4 MLPClassifier: {per_model * 4 / sk:.2f}/1 "
              f"{verdict(per_model <= sk / 4)}; 32-sweep <= 8 fits: {ratio32:.1f} {verdict(ratio32 <= 8)}")
    flops32 = 6 * multiply_adds(MLP, 40, 10) * len(data.x_train) * EPOCHS * 32
    share = flops32 / mlp["sweep of 32"].cpu / rate
    print(f"   32-sweep arithmetic rate >= 50% of matmul rate: {share:.0%} {verdict(share >= 0.5)}")

    if not args.skip_cnn:
        cnn = bench("1-D CNN 25-25-25", CNN, data, rate, args.repeats, with_sklearn=False)
        mlp_gain = mlp["fit (one model)"].cpu / (mlp["sweep of 16"].cpu / 16)
        cnn_gain = cnn["fit (one model)"].cpu / (cnn["sweep of 16"].cpu / 16)
        print(f"\nPer-model gain of a 16-sweep over fit (cpu): MLP {mlp_gain:.1f}x, CNN {cnn_gain:.1f}x")


if __name__ == "__main__":
    main()
