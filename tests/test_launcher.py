"""course.py, the launcher without make: Python check, venv layout, CPU torch, the workspace, lab and test steps.

The branches for other systems (Windows paths, macOS wheels) cannot run here, so they are tested as the
commands and paths course.py would use there.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)


@pytest.mark.parametrize("version", [(3, 10, 4), (3, 8, 0), (2, 7, 18)])
def test_an_old_python_gets_a_clear_message(version):
    with pytest.raises(SystemExit, match=rf"needs Python 3.11 or newer; this is {version[0]}.{version[1]}"):
        course.check_python(version)


def test_a_current_python_passes():
    course.check_python((3, 11, 0))
    course.check_python((3, 13, 1))


def test_the_venv_interpreter_on_each_system():
    assert course.venv_python(Path("v"), "nt") == Path("v/Scripts/python.exe")
    assert course.venv_python(Path("v"), "posix") == Path("v/bin/python")


def test_torch_comes_from_a_local_wheelhouse_first_then_the_cpu_index_on_linux():
    local, remote = course.torch_sources("Linux", "cpu")
    assert local == ["--no-index", "--no-deps", f"torch=={course.TORCH_VERSION}"]
    assert remote == ["--index-url", "https://download.pytorch.org/whl/cpu", f"torch=={course.TORCH_VERSION}"]


@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_macos_and_windows_wheels_are_cpu_builds_already(system):
    assert course.torch_sources(system, "cpu")[1] == [f"torch=={course.TORCH_VERSION}"]


def test_the_default_index_is_an_explicit_choice(monkeypatch):
    assert course.torch_sources("Linux", "default")[1] == [f"torch=={course.TORCH_VERSION}"]
    monkeypatch.setenv("COURSE_TORCH", "default")
    assert course.torch_sources("Linux")[1] == [f"torch=={course.TORCH_VERSION}"]
    monkeypatch.setenv("COURSE_TORCH", "cuda")
    with pytest.raises(SystemExit, match="COURSE_TORCH must be 'cpu'"):
        course.torch_sources("Linux")


def test_the_installed_environment_plans_no_cuda_package():
    """pip's plan for the lab environment, resolved against what is installed, pulls no nvidia-* wheel."""
    import json
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-",
                             "-c", "constraints.txt", "-e", ".[test]"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    planned = [item["metadata"]["name"] for item in json.loads(result.stdout)["install"]]
    assert not [name for name in planned if name.lower().startswith("nvidia")], planned
    import torch
    assert not torch.cuda.is_available() and torch.version.cuda is None, "the installed torch is a CUDA build"


def test_the_workspace_is_copied_once_and_never_overwritten(tmp_path):
    learner, workspace = tmp_path / "learner", tmp_path / "my-work"
    learner.mkdir()
    for name in ("00_start_here.ipynb", "01_x.ipynb"):
        (learner / name).write_text(f"course {name}")
    (learner / "notes.txt").write_text("not a notebook")
    assert [p.name for p in course.make_workspace(learner, workspace)] == ["00_start_here.ipynb", "01_x.ipynb"]
    (workspace / "00_start_here.ipynb").write_text("my answers")
    (learner / "02_new.ipynb").write_text("a new chapter")
    assert [p.name for p in course.make_workspace(learner, workspace)] == ["02_new.ipynb"]
    assert (workspace / "00_start_here.ipynb").read_text() == "my answers"
    assert not (workspace / "notes.txt").exists()


def test_lab_listens_on_loopback_with_a_token_and_opens_the_workspace():
    args = course.lab_args(8123, "secret", is_root=False)
    assert "--ip=127.0.0.1" in args and "--port=8123" in args and "--IdentityProvider.token=secret" in args
    assert "--LabApp.default_url=/lab/tree/my-work/00_start_here.ipynb" in args
    assert "--allow-root" not in args and "--allow-root" in course.lab_args(8123, "secret", is_root=True)


def test_make_lab_and_make_test_run_the_launcher():
    dry = subprocess.run(["make", "-n", "--no-print-directory", "lab", "test", "PORT=8123"], cwd=ROOT, capture_output=True, text=True,
                         timeout=30, check=True).stdout.splitlines()
    assert dry == ["python3 course.py lab --port 8123 ", "python3 course.py test"]


def test_make_prints_the_launchers_lab_arguments():
    printed = subprocess.run(["make", "-s", "--no-print-directory", "print-lab-args", "PORT=8123", "TOKEN=abc"],
                             cwd=ROOT, capture_output=True, text=True, timeout=30, check=True).stdout.split()
    assert printed == course.lab_args(8123, "abc")


@pytest.mark.parametrize("os_name", ["posix", "nt"])
def test_the_test_steps_on_each_system(os_name):
    steps = course.test_steps(Path("py"), os_name)
    assert len(steps) == 4
    for command, env, _ in steps:
        assert env["OMP_NUM_THREADS"] in ("1", "2") and env["PYTHONHASHSEED"] == "0"
        if os_name == "posix":
            assert command[0] == ROOT / "scripts" / "offline"
        else:   # no bash: the Python-level network guard alone
            assert command[0] == Path("py") and env["COURSE_BLOCK_NETWORK"] == "1"
            assert env["PYTHONPATH"].split(";" if sys.platform == "win32" else ":")[0] == str(ROOT / "tests" / "offline")
    assert steps[1][2] == (0, 5)   # no learner notebooks: nothing to run is fine
    assert steps[3][1]["ATEN_CPU_CAPABILITY"] == "default" and steps[3][1]["OMP_NUM_THREADS"] == "2"


def test_makefile_takes_the_notebook_environment_from_the_launcher():
    printed = subprocess.run(["make", "-s", "-p", "-n", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                             timeout=30).stdout
    line = next(line for line in printed.splitlines() if line.startswith("NB_ENV :="))
    assert line.split(":=", 1)[1].split() == [f"{k}={v}" for k, v in course.NOTEBOOK_ENV.items()]
