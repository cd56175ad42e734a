"""Safe by default: no code path of the course unpickles data, and shipped data is verified."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("course_utils/**/*.py"), *ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py")])


def calls(pattern: str):
    """(file, line) of every call matching ``pattern`` in the course's own code."""
    found = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                found.append((path.relative_to(ROOT), number, line.strip()))
    return found


def test_sources_are_scanned():
    assert any(p.name == "data.py" for p in SOURCES)


def test_no_pickle_loading():
    assert calls(r"\bpickle\.loads?\(|\bjoblib\.load\(") == []


def test_numpy_loads_refuse_pickles():
    unsafe = [c for c in calls(r"\bnp\.load\(") if "allow_pickle=False" not in c[2]]
    assert unsafe == [], f"np.load without allow_pickle=False: {unsafe}"


def test_torch_loads_are_weights_only():
    unsafe = [c for c in calls(r"\btorch\.load\(") if "weights_only=True" not in c[2]]
    assert unsafe == [], f"torch.load without weights_only=True: {unsafe}"


def test_shipped_data_files_all_have_checksums():
    listed = {line.split()[1] for line in (ROOT / "data" / "SHA256SUMS").read_text().splitlines() if line.strip()}
    shipped = {p.name for p in (ROOT / "data").iterdir() if p.suffix in (".npz", ".csv")}
    assert shipped <= listed, f"data files without a checksum in data/SHA256SUMS: {shipped - listed}"
