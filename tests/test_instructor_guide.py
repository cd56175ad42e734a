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


def test_the_readme_timing_table_matches_the_measured_times():
    timings = json.loads((ROOT / "instructor" / "timings.json").read_text(encoding="utf-8"))
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text == agenda.updated_readme(text, NOTEBOOKS, timings), "README.md's timing table is stale: run make guide"
    table = agenda.readme_timings(NOTEBOOKS, timings)
    for path in NOTEBOOKS:
        assert f"| {path.name[:2]} | {timings[path.name]['seconds']:.1f} | {timings[path.name]['peak_mb']:.0f} |" in table
    assert f"executes in {sum(t['seconds'] for t in timings.values()):.0f} s" in table


def test_every_notebook_has_a_section():
    headings = set(re.findall(r"^### (\d\d) · ", GUIDE.read_text(encoding="utf-8"), flags=re.MULTILINE))
    missing = [path.name for path in NOTEBOOKS if path.name[:2] not in headings]
    assert not missing, f"instructor/GUIDE.md has no '### NN · ' section for {missing}"


def test_every_agenda_adds_up_to_its_length():
    """Each agenda's slots fill its day exactly: the times follow from the minutes, and it ends on the hour it says."""
    text = GUIDE.read_text(encoding="utf-8")
    agendas = re.findall(r"^### (.+ agenda) \((\d\d:\d\d)–(\d\d:\d\d)\)\n\n((?:\|.*\n)+)", text, flags=re.MULTILINE)
    assert {name for name, *_ in agendas} == {"3-hour agenda", "Half-day agenda", "Full-day agenda"}
    for name, start, end, table in agendas:
        rows = [line.split("|")[1:4] for line in table.splitlines()[2:]]
        minutes = lambda clock: int(clock[:2]) * 60 + int(clock[3:])  # noqa: E731
        now = minutes(start)
        for time, what, length in rows[:-1]:
            assert minutes(time.strip()) == now, f"{name}: {what.strip()} starts at {time.strip()}"
            now += int(length)
        assert rows[-1][1].strip() == "End" and minutes(rows[-1][0].strip()) == now == minutes(end), (
            f"{name} ends at {rows[-1][0].strip()}, not at {end}")
        assert "set-up" in rows[0][1] and int(rows[0][2]) >= 30, f"{name}: the room needs half an hour to set up"


def test_the_cut_list_skips_optional_sections_before_whole_notebooks():
    def fact(number, slot, optional=()):
        return {"number": number, "title": f"{number} · T", "slot": slot, "optional": list(optional)}

    chosen = [fact("01", 45, [("01 §5 Noise", 10)]), fact("03", 55, [("03 §6 Max-norm", 10), ("03 §7 Extra", 5)])]
    text = agenda.cut_list(chosen, spare=0, priority=["01", "03"])
    assert "**15 minutes behind:** skip the optional 03 §6 Max-norm (10 min); 03 §7 Extra (5 min)." in text
    # 30 minutes: the three optional sections free 25, so a notebook goes home
    assert "**30 minutes behind:** set 03 · T as homework (frees 55 minutes)." in text


def test_every_optional_section_is_in_the_notebook_it_names():
    for path in NOTEBOOKS:
        for title, minutes in agenda.notebook_facts(path, {})["optional"]:
            assert title.startswith(path.name[:2]) and 0 < minutes <= 30
