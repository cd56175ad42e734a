"""Write course_utils/locked_versions.json: the locked version of each runtime dependency.

Usage (from the repository root; `make lock` runs it after rewriting constraints.txt):

    python scripts/write_locked_versions.py

pyproject.toml admits ranges; constraints.txt holds the exact versions the stored outputs were made with. The
package carries the runtime part of that lock, so that ``check_environment`` can compare against it wherever
the course is installed, from a clone or from the repository's URL.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "course_utils" / "locked_versions.json"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_runtime(pyproject_text: str, constraints_text: str) -> dict[str, str]:
    """{runtime dependency: its exact version in the lock}, in pyproject's order."""
    names = [re.match(r"[A-Za-z0-9._-]+", r)[0] for r in tomllib.loads(pyproject_text)["project"]["dependencies"]]
    lock = dict(line.split("==", 1) for line in constraints_text.splitlines()
                if line.strip() and not line.startswith("#"))
    lock = {normalize(name): version.strip() for name, version in lock.items()}
    missing = [name for name in names if normalize(name) not in lock]
    if missing:
        raise SystemExit(f"constraints.txt does not lock {missing}: run make lock in a complete environment")
    return {name: lock[normalize(name)] for name in names}


def main() -> int:
    versions = locked_runtime((ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                              (ROOT / "constraints.txt").read_text(encoding="utf-8"))
    OUTPUT.write_text(json.dumps(versions, indent=2) + "\n", encoding="utf-8")
    print(f"{OUTPUT.relative_to(ROOT)}: {len(versions)} runtime versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
