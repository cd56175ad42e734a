"""Regenerate the shipped MNIST-1D data, data/mnist1d.npz, and its checksum.

Usage (from the repository root; needs the `data` extra, see `make data`):

    python scripts/make_mnist1d.py           # write data/mnist1d.npz and data/SHA256SUMS
    python scripts/make_mnist1d.py --check   # verify the shipped file, write nothing

The data come from the `mnist1d` package's procedural generator with its
default arguments (seed 42); nothing is downloaded. The generator reseeds
NumPy's and Python's global random number generators, so their states are
saved before and restored after it runs.

Writing keeps an existing data/mnist1d.npz whose arrays already equal the
regenerated ones, so the committed file and its checksum stay put unless the
data really change (use --force to rewrite it anyway).
"""

import argparse
import hashlib
import random
import sys
from pathlib import Path

import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
NPZ_PATH = DATA_DIR / "mnist1d.npz"
SUMS_PATH = DATA_DIR / "SHA256SUMS"

# name -> (shape, dtype) of every array in the file
LAYOUT = {
    "x_train": ((4000, 40), np.float64),
    "y_train": ((4000,), np.int64),
    "x_test": ((1000, 40), np.float64),
    "y_test": ((1000,), np.int64),
    "t": ((40,), np.float64),
}


def generate():
    """The MNIST-1D arrays, made without touching the caller's random state."""
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    try:
        dataset = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    arrays = {
        "x_train": dataset["x"],
        "y_train": dataset["y"],
        "x_test": dataset["x_test"],
        "y_test": dataset["y_test"],
        "t": dataset["t"],
    }
    arrays = {name: np.ascontiguousarray(arrays[name], dtype=LAYOUT[name][1]) for name in LAYOUT}
    for name, (shape, _) in LAYOUT.items():
        if arrays[name].shape != shape:
            raise RuntimeError(f"{name} has shape {arrays[name].shape}, expected {shape}")
    return arrays


def load(path):
    """Arrays of an .npz file, as a dict; pickled objects are refused."""
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def differences(expected, actual):
    """Human-readable list of the ways two dicts of arrays differ (empty if equal)."""
    problems = []
    if set(expected) != set(actual):
        problems.append(f"array names {sorted(actual)} != {sorted(expected)}")
    for name in sorted(set(expected) & set(actual)):
        a, b = expected[name], actual[name]
        if a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{name}: {b.dtype}{b.shape} != {a.dtype}{a.shape}")
        elif not np.array_equal(a, b):
            problems.append(f"{name}: {np.count_nonzero(a != b)} values differ")
    return problems


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded_sha256():
    """The checksum of mnist1d.npz recorded in SHA256SUMS, or None."""
    if not SUMS_PATH.exists():
        return None
    for line in SUMS_PATH.read_text(encoding="ascii").splitlines():
        digest, _, name = line.partition("  ")
        if name.strip() == NPZ_PATH.name:
            return digest.strip()
    return None


def check():
    """Verify the shipped file against its checksum and a fresh regeneration."""
    if not NPZ_PATH.exists():
        print(f"{NPZ_PATH} is missing; run make data", file=sys.stderr)
        return 1
    ok = True
    digest, recorded = sha256(NPZ_PATH), recorded_sha256()
    if digest != recorded:
        print(f"checksum mismatch: {NPZ_PATH.name} is {digest}, SHA256SUMS says {recorded}",
              file=sys.stderr)
        ok = False
    problems = differences(generate(), load(NPZ_PATH))
    for problem in problems:
        print(f"{NPZ_PATH.name} differs from the regenerated data: {problem}", file=sys.stderr)
    if ok and not problems:
        print(f"{NPZ_PATH.name}: checksum and all {len(LAYOUT)} arrays match ({digest})")
        return 0
    return 1


def write(force=False):
    arrays = generate()
    if not force and NPZ_PATH.exists() and not differences(arrays, load(NPZ_PATH)):
        print(f"{NPZ_PATH.name} already holds exactly these arrays; kept as it is")
    else:
        DATA_DIR.mkdir(exist_ok=True)
        np.savez_compressed(NPZ_PATH, **arrays)
        print(f"wrote {NPZ_PATH}")
    digest = sha256(NPZ_PATH)
    SUMS_PATH.write_text(f"{digest}  {NPZ_PATH.name}\n", encoding="ascii")
    print(f"wrote {SUMS_PATH}: {digest}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true",
                       help="verify data/mnist1d.npz and its checksum; write nothing")
    group.add_argument("--force", action="store_true",
                       help="rewrite data/mnist1d.npz even if its arrays are unchanged")
    args = parser.parse_args(argv)
    return check() if args.check else write(force=args.force)


if __name__ == "__main__":
    sys.exit(main())
