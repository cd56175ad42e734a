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


def check_environment() -> bool:
    """Print each pinned package against its installed version, and torch's thread count."""
    try:
        pins = pinned_versions()
    except metadata.PackageNotFoundError:
        print("✘ the course package is not installed: run `make lab` (or `pip install -e .`) from the course folder")
        return False
    ok = True
    for name, pinned in sorted(pins.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        # A local build tag such as torch's "+cpu" is the same release.
        matches = installed is not None and installed.split("+")[0] == pinned
        ok &= matches
        mark = "✔" if matches else "✘"
        note = "" if matches else f" (installed: {installed or 'missing'}; outputs may differ)"
        print(f"{mark} {name} {pinned}{note}")
    threads = torch.get_num_threads()
    ok &= threads == 1
    print(f"{'✔' if threads == 1 else '✘'} torch uses {threads} thread(s)"
          + ("" if threads == 1 else "; call course_utils.setup() first"))
    return ok
