"""The instructor guide: its agendas match the measured times, and every notebook has its section."""
import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "instructor" / "GUIDE.md"
TIMINGS = ROOT / "instructor" / "timings.json"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

spec = importlib.util.spec_from_file_location("make_guide_agenda", ROOT / "scripts" / "make_guide_agenda.py")
agenda = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agenda)


def test_agendas_match_the_measured_times():
    timings = json.loads(TIMINGS.read_text(encoding="utf-8")) if TIMINGS.exists() else {}
    text = GUIDE.read_text(encoding="utf-8")
    assert text == agenda.updated_guide(text, NOTEBOOKS, timings), (
        "instructor/GUIDE.md's timing table or agendas differ from instructor/timings.json and the notebooks: "
        "run make guide")


def test_every_notebook_has_a_section():
    headings = set(re.findall(r"^### (\d\d) · ", GUIDE.read_text(encoding="utf-8"), flags=re.MULTILINE))
    missing = [path.name for path in NOTEBOOKS if path.name[:2] not in headings]
    assert not missing, f"instructor/GUIDE.md has no '### NN · ' section for {missing}"
