"""Set up, open and test the course on Linux, macOS and Windows, with nothing but Python 3.11+.

    python course.py lab      # set up (first time only) and open the course in JupyterLab, in my-work/
    python course.py test     # set up (first time only) and run every test
    python course.py install  # only set up: .venv with the pinned packages and the course

`make lab`, `make test` and `make install` run exactly these. Only the standard library is used here, since
this file runs before the virtual environment exists.

PyTorch is the CPU build on every route: from a local wheelhouse when pip is configured with one (an offline
machine), otherwise, on Linux, from PyTorch's CPU wheel index (PyPI's Linux wheel is the multi-GB CUDA build;
macOS and Windows wheels are CPU builds already). COURSE_TORCH=default takes torch from the default index
instead, for a learner who wants the CUDA build.
"""
from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
WORKSPACE = ROOT / "my-work"          # the learner's own copies of the notebooks; git ignores it
LEARNER = ROOT / "learner"
START_NOTEBOOK = "00_start_here.ipynb"
MINIMUM_PYTHON = (3, 11)
TORCH_VERSION = "2.13.0"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Every notebook run uses these, so the outputs stored by `make execute` come from the settings tests compare.
# No progress bars there (COURSE_PROGRESS=0): a learner sees them live, stored outputs keep no snapshots.
NOTEBOOK_ENV = {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1", "COURSE_PROGRESS": "0"}
# The stored outputs must also come out under two threads and the lowest CPU code path.
PORTABILITY_ENV = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "default"}
COMPAT = ROOT / "build" / "compat"    # make compat: a venv of the newest releases, and its notebook runs
NBGRADER_EXTENSIONS = ("formgrader", "validate_assignment", "assignment_list", "course_list")


def check_python(version=sys.version_info) -> None:
    """Stop with a clear message on a Python older than the pinned packages need."""
    if tuple(version[:2]) < MINIMUM_PYTHON:
        raise SystemExit(f"The course needs Python {'.'.join(map(str, MINIMUM_PYTHON))} or newer; this is "
                         f"{version[0]}.{version[1]}. Install a newer Python (python.org, or your package "
                         "manager) and run this command with it.")


def venv_python(venv: Path = VENV, os_name: str = os.name) -> Path:
    """The virtual environment's interpreter: Scripts\\python.exe on Windows, bin/python elsewhere."""
    return venv / ("Scripts/python.exe" if os_name == "nt" else "bin/python")


def torch_sources(system: str = platform.system(), choice: str | None = None,
                  version: str | None = TORCH_VERSION) -> list[list[str]]:
    """pip arguments to try in turn for torch: a local wheelhouse first, then the right index for this system.

    ``version=None`` asks for the newest release the index offers (make compat).
    """
    choice = os.environ.get("COURSE_TORCH", "cpu") if choice is None else choice
    if choice not in ("cpu", "default"):
        raise SystemExit(f"COURSE_TORCH must be 'cpu' (the default) or 'default' (the default index, which on "
                         f"Linux is the CUDA build); got {choice!r}")
    wanted = [f"torch=={version}" if version else "torch"]
    local = ["--no-index", "--no-deps", *wanted]   # only pip's configured find-links: offline wheelhouses
    remote = ["--index-url", CPU_INDEX, *wanted] if system == "Linux" and choice == "cpu" else wanted
    return [local, remote]


def run(command: list, env: dict | None = None, check: bool = True) -> int:
    print("+", " ".join(map(str, command)), flush=True)
    code = subprocess.call([str(part) for part in command], cwd=ROOT,
                           env=None if env is None else {**os.environ, **env})
    if check and code != 0:
        raise SystemExit(code)
    return code


def install(extras: str = "test") -> Path:
    """Create .venv and install torch (CPU), the pinned packages and the course; skipped when up to date."""
    check_python()
    python = venv_python()
    sources = [ROOT / "pyproject.toml", ROOT / "constraints.txt"]
    if STAMP.exists() and all(STAMP.stat().st_mtime >= s.stat().st_mtime for s in sources):
        return python
    if not python.exists():
        run([sys.executable, "-m", "venv", VENV])
    run([python, "-m", "pip", "install", "--upgrade", "pip"])
    pip = [python, "-m", "pip", "install", "-c", "constraints.txt"]
    local, remote = torch_sources()
    if run([*pip, *local], check=False) != 0:
        print(f"(No local wheel of torch {TORCH_VERSION}: the message above is expected. Taking it from "
              f"{remote[1] if remote[0] == '--index-url' else 'the default index'}.)", flush=True)
        run([*pip, *remote])
    run([*pip, "-e", f".[{extras}]"])
    # nbgrader is here only for its preprocessors (make learner): keep its menus out of the learners' Lab.
    jupyter = [python, "-m", "jupyter"]
    run([*jupyter, "labextension", "disable", "--level=sys_prefix", "@jupyter/nbgrader"], check=False)
    for extension in NBGRADER_EXTENSIONS:
        run([*jupyter, "server", "extension", "disable", "--sys-prefix",
             f"nbgrader.server_extensions.{extension}"], check=False)
    STAMP.touch()
    return python


def make_workspace(learner: Path = LEARNER, workspace: Path = WORKSPACE) -> list[Path]:
    """Copy the learner notebooks into the workspace, never over a file that exists; return what was copied."""
    workspace.mkdir(exist_ok=True)
    copied = []
    for notebook in sorted(learner.glob("[0-9][0-9]_*.ipynb")):
        target = workspace / notebook.name
        if not target.exists():
            shutil.copy2(notebook, target)
            copied.append(target)
    return copied


def lab_args(port: int, token: str, is_root: bool | None = None) -> list[str]:
    """The flags of `jupyter lab`: loopback only, a token, the course folder, notebook 00 of the workspace."""
    is_root = (hasattr(os, "geteuid") and os.geteuid() == 0) if is_root is None else is_root
    return ["--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={ROOT}",
            f"--LabApp.default_url=/lab/tree/{WORKSPACE.name}/{START_NOTEBOOK}",
            f"--IdentityProvider.token={token}", *(["--allow-root"] if is_root else [])]


def lab(port: int, token: str | None) -> None:
    python = install()
    copied = make_workspace()
    if copied:
        print(f"Your own copies of the notebooks are in {WORKSPACE.name}/ ({len(copied)} new); the solutions "
              "stay in notebooks/. Nothing the course's commands do overwrites my-work/.")
    token = token or secrets.token_hex(16)
    print(f"JupyterLab: http://127.0.0.1:{port}/lab/tree/{WORKSPACE.name}/{START_NOTEBOOK}?token={token}",
          flush=True)
    try:
        run([python, "-m", "jupyter", "lab", *lab_args(port, token)])
    except KeyboardInterrupt:
        pass


def offline_env() -> dict:
    """The Python-level network guard of tests/offline, in this process's children and their kernels."""
    path = os.pathsep.join(p for p in (str(ROOT / "tests" / "offline"), os.environ.get("PYTHONPATH")) if p)
    return {"COURSE_BLOCK_NETWORK": "1", "PYTHONPATH": path}


def test_steps(python: Path, os_name: str = os.name) -> list[tuple[list, dict, tuple[int, ...]]]:
    """(command, extra environment, accepted exit codes) of every step of the test suite, in order.

    On POSIX, scripts/offline also cuts the network at the system level where it can; elsewhere the
    Python-level guard alone keeps the tests offline.
    """
    wrap = [ROOT / "scripts" / "offline"] if os_name == "posix" else []   # it sets the guard up itself
    pytest = [*wrap, python, "-m", "pytest"]
    nbval = [*pytest, "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
             "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile", "notebooks"]
    env = {**NOTEBOOK_ENV, **({} if wrap else offline_env())}
    return [
        ([*pytest, "-n", "2", "--dist", "loadfile", "-m", "not learner_run", "tests"], env, (0,)),
        # Learner notebooks one test each, spread over both workers; 5: no notebooks, nothing to run.
        ([*pytest, "-n", "2", "--dist", "load", "-p", "no:cacheprovider", "-m", "learner_run",
          "tests/test_learner_notebooks.py"], env, (0, 5)),
        (nbval, env, (0,)),
        (nbval, {**env, **PORTABILITY_ENV}, (0,)),
    ]


def test() -> None:
    python = install()
    for command, env, accepted in test_steps(python):
        code = run(command, env=env, check=False)
        if code not in accepted:
            raise SystemExit(code)


def compat(folder: Path = COMPAT) -> None:
    """Run the course with the newest releases pyproject.toml's ranges admit, and check every claim.

    A venv of its own under build/compat (the lock is not used), torch from the same route as `install`
    but the newest release, then every notebook executed in explore mode on a copy, and each claim compared
    with the stored one by scripts/claim_margins.py. Exit status 1 if any claim fails.
    """
    shutil.rmtree(folder, ignore_errors=True)
    run([sys.executable, "-m", "venv", folder / "venv"])
    python = venv_python(folder / "venv")
    pip = [python, "-m", "pip", "install", "--upgrade"]
    run([*pip, "pip"])
    run([*pip, *torch_sources(version=None)[1]])
    run([*pip, ".", "nbclient", "ipykernel"])
    freeze = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True)
    (folder / "versions.txt").write_text(freeze.stdout)
    print("".join(line + "\n" for line in freeze.stdout.splitlines() if line.split("==")[0].lower()
                  in ("torch", "numpy", "scikit-learn", "matplotlib", "pandas", "scipy")), flush=True)
    copies = folder / "notebooks"
    copies.mkdir()
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(notebook, copies / notebook.name)
    run([python, "scripts/execute_notebooks.py", *sorted(copies.glob("*.ipynb"))],
        env={**NOTEBOOK_ENV, "COURSE_EXPLORE": "1"})
    raise SystemExit(run([python, "scripts/claim_margins.py", "notebooks", copies], check=False))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    lab_parser = commands.add_parser("lab", help="set up and open the course in JupyterLab")
    lab_parser.add_argument("--port", type=int, default=8888)
    lab_parser.add_argument("--token", help="the login token (default: a new random one)")
    commands.add_parser("test", help="set up and run every test")
    commands.add_parser("install", help="set up .venv only")
    commands.add_parser("compat", help="run every notebook with the newest releases allowed, check every claim")
    commands.add_parser("workspace", help="copy new learner notebooks into my-work/ (never overwriting)")
    args_parser = commands.add_parser("print-lab-args", help="the flags `lab` passes to jupyter lab")
    args_parser.add_argument("--port", type=int, default=8888)
    args_parser.add_argument("--token", default="TOKEN")
    env_parser = commands.add_parser("print-env", help="the environment of notebook runs, as NAME=VALUE words")
    env_parser.add_argument("which", choices=("notebook", "portability"))
    args = parser.parse_args(argv)
    check_python()
    if args.command == "lab":
        lab(args.port, args.token)
    elif args.command == "test":
        test()
    elif args.command == "install":
        install()
    elif args.command == "compat":
        compat()
    elif args.command == "workspace":
        print("\n".join(str(p.relative_to(ROOT)) for p in make_workspace()) or "my-work/ is up to date")
    elif args.command == "print-env":
        print(" ".join(f"{k}={v}" for k, v in (NOTEBOOK_ENV if args.which == "notebook" else PORTABILITY_ENV).items()))
    else:
        print(" ".join(lab_args(args.port, args.token)))


if __name__ == "__main__":
    main()
