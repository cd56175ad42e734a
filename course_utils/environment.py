"""The machine the course runs on: its versions against the lock, and the CPU cores it may use."""
from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import torch

__all__ = ["locked_versions", "check_environment", "usable_cores", "cgroup_cpu_quota"]

LOCKED_VERSIONS = Path(__file__).with_name("locked_versions.json")   # written by `make lock`


def locked_versions() -> dict[str, str]:
    """The exact version of each runtime dependency that the stored outputs were made with."""
    return json.loads(LOCKED_VERSIONS.read_text(encoding="utf-8"))


def check_environment() -> None:
    """Print each pinned package against its installed version, and torch's thread count.

    It only reports: a difference never stops a notebook, since the course runs with other versions too;
    its numbers may then differ in their last digits from the stored ones.
    """
    pins = locked_versions()
    differences = 0
    for name, pinned in sorted(pins.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        # A local build tag such as torch's "+cpu" is the same release.
        matches = installed is not None and installed.split("+")[0] == pinned
        differences += not matches
        note = "" if matches else f" (installed: {installed or 'missing'})"
        print(f"{'✔' if matches else '✘'} {name} {pinned}{note}")
    threads = torch.get_num_threads()
    differences += threads != 1
    print(f"{'✔' if threads == 1 else '✘'} torch uses {threads} thread(s)"
          + ("" if threads == 1 else "; call course_utils.setup() first"))
    print("Everything matches the versions the stored outputs were made with." if not differences else
          f"{differences} difference(s) from the versions the stored outputs were made with: the notebooks run "
          "all the same, and trained numbers may differ in their last digits.")


def usable_cores() -> int:
    """The CPU cores this process may use, the default number of sweep workers.

    Its CPU affinity, capped by a container's CPU quota: a JupyterHub or Docker
    limit of one CPU leaves every core visible but lets only one work.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return cores if quota is None else max(1, min(cores, int(quota)))


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs a cgroup quota grants this process (cgroup v2 or v1), or None where there is no quota."""
    try:   # v2: "max 100000" (no quota) or "150000 100000" (1.5 CPUs)
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:   # v1: a quota of -1 means none
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None
