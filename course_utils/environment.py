"""Is this the environment the course's stored outputs were made in?"""
from __future__ import annotations

import re
from importlib import metadata

import torch

DISTRIBUTION = "regularization-course"


def pinned_versions() -> dict[str, str]:
    """The ``==`` pins of the course's runtime dependencies, read from the installed package."""
    pins = {}
    for requirement in metadata.requires(DISTRIBUTION) or []:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^;\s]+)", requirement.strip())
        if match:  # extras carry a '; extra == ...' marker and are skipped
            pins[match[1]] = match[2]
    return pins


def check_environment() -> None:
    """Print each pinned package against its installed version, and torch's thread count.

    It only reports: a difference never stops a notebook, since the course runs with other versions too;
    its numbers may then differ in their last digits from the stored ones.
    """
    try:
        pins = pinned_versions()
    except metadata.PackageNotFoundError:
        print("✘ the course package is not installed: run `python course.py lab` (or `pip install -e .`) "
              "from the course folder")
        return
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
