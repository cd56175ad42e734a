"""check_environment reports version differences and never stops a notebook."""
from __future__ import annotations

from importlib import metadata

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
