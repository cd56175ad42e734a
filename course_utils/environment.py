"""Is this the environment the course's stored outputs were made in?"""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import torch

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
