"""Time one MNIST-1D training task three ways and print the ratios.

Task: MLP 40-100-100-10, 20 epochs, batch 100, Adam (lr 1e-3), one torch thread.
  1. course_utils.fit: batches sliced from tensors already in memory
  2. the idiomatic PyTorch loop over a DataLoader
  3. scikit-learn's MLPClassifier with the same architecture and schedule
Each is timed as the best of a few repeats, so a busy moment does not count.
This prints figures; it asserts nothing (budgets are measured, not tested).
"""
from __future__ import annotations

import time
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from torch.utils.data import DataLoader, TensorDataset

import course_utils as cu

EPOCHS, BATCH, LR, HIDDEN, REPEATS = 20, 100, 1e-3, (100, 100), 3


def best_time(run) -> tuple[float, float]:
    """(fastest wall time over REPEATS, the accuracy that run reached)."""
    results = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        accuracy = run()
        results.append((time.perf_counter() - start, accuracy))
    return min(results)


def engine(data):
    config = cu.Config(hidden=HIDDEN, epochs=EPOCHS, batch_size=BATCH, lr=LR)
    model = cu.build_model(config, 40, 10)
    cu.fit(model, data, config, progress=False)
    return cu.evaluate(model, data.x_test, data.y_test)["acc"]


def dataloader_loop(data):
    torch.manual_seed(0)
    model = cu.build_model(cu.Config(hidden=HIDDEN), 40, 10)
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
    return cu.evaluate(model, data.x_test, data.y_test)["acc"]


def sklearn_mlp(data):
    model = MLPClassifier(hidden_layer_sizes=HIDDEN, batch_size=BATCH, learning_rate_init=LR, max_iter=EPOCHS,
                          shuffle=True, random_state=0, n_iter_no_change=EPOCHS + 1, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the epoch budget on purpose
        model.fit(data.x_train, data.y_train)
    return model.score(data.x_test, data.y_test)


def main() -> None:
    cu.setup(0)
    data = cu.load_mnist1d()
    print(f"MNIST-1D, MLP 40-{'-'.join(map(str, HIDDEN))}-10, {EPOCHS} epochs, batch {BATCH}, Adam, "
          f"{torch.get_num_threads()} torch thread; best of {REPEATS}\n")
    timings = {name: best_time(lambda run=run: run(data)) for name, run in
               [("course_utils.fit", engine), ("DataLoader loop", dataloader_loop),
                ("sklearn MLPClassifier", sklearn_mlp)]}
    print(f"{'method':<24}{'seconds':>9}{'test acc':>10}")
    for name, (seconds, accuracy) in timings.items():
        print(f"{name:<24}{seconds:>9.2f}{accuracy:>10.3f}")
    fit_seconds = timings["course_utils.fit"][0]
    print(f"\nDataLoader loop / fit:       {timings['DataLoader loop'][0] / fit_seconds:5.1f}x")
    print(f"MLPClassifier / fit:         {timings['sklearn MLPClassifier'][0] / fit_seconds:5.1f}x")
    print("(fit also evaluates train and validation sets every epoch; the others do not)")


if __name__ == "__main__":
    main()
