"""The course installs from its repository URL alone (Colab, a hub): the wheel carries MNIST-1D and its checksum."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_wheel_of_the_course_loads_mnist1d_away_from_the_repository(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "wheel"), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel, = (tmp_path / "wheel").glob("*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    for name in ("mnist1d.npz", "SHA256SUMS", "README.md"):
        assert f"course_utils/datasets/{name}" in names, f"the wheel lacks data/{name}"
    assert "course_utils/locked_versions.json" in names, "the wheel lacks the locked runtime versions"
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    code = ("import course_utils, course_utils.data as d; data = course_utils.load_mnist1d(); "
            "print(d.DATA_DIR); print(len(data.y_train), len(data.y_test))")
    loaded = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                            cwd=empty, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    directory, sizes = loaded.stdout.splitlines()
    assert Path(directory) == site / "course_utils" / "datasets"
    assert sizes == "4000 1000"
