"""check_environment reports version differences and never stops a notebook; sweeps see the usable cores."""
from __future__ import annotations

from importlib import metadata

import pytest
import torch

from course_utils import environment


def test_the_installed_pins_match(capsys):
    assert environment.check_environment() is None
    out = capsys.readouterr().out
    assert f"✔ torch {environment.locked_versions()['torch']}" in out
    assert out.rstrip().endswith("Everything matches the versions the stored outputs were made with.")


def test_a_different_version_is_reported_not_raised(monkeypatch, capsys):
    real = metadata.version
    monkeypatch.setattr(environment.metadata, "version",
                        lambda name: "2.14.1" if name == "torch" else real(name))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    environment.check_environment()
    out = capsys.readouterr().out
    assert "✘ torch" in out and "(installed: 2.14.1)" in out and "✘ torch uses 2 thread(s)" in out
    assert "2 difference(s)" in out and "the notebooks run all the same" in out


def test_a_local_build_tag_is_the_same_release(monkeypatch, capsys):
    real = metadata.version
    pinned = environment.locked_versions()["torch"]
    monkeypatch.setattr(environment.metadata, "version",
                        lambda name: f"{pinned}+cpu" if name == "torch" else real(name))
    environment.check_environment()
    assert f"✔ torch {pinned}\n" in capsys.readouterr().out


@pytest.mark.parametrize("files, quota", [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({}, None),
], ids=["v2-none", "v2-1.5", "v1-none", "v1-2", "no-cgroup"])
def test_a_containers_cpu_quota_is_read(tmp_path, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert environment.cgroup_cpu_quota(tmp_path) == quota


@pytest.mark.parametrize("quota, expected", [(None, 2), (0.5, 1), (1.5, 1), (8.0, 2)])
def test_sweeps_use_no_more_workers_than_the_quota_allows(monkeypatch, quota, expected):
    monkeypatch.setattr(environment.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(environment, "cgroup_cpu_quota", lambda: quota)
    assert environment.usable_cores() == expected
