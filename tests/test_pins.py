"""The versions in pyproject.toml, constraints.txt, environment.yml and environment-dev.yml agree.

pyproject.toml declares the runtime as ranges from the tested release to the next major version, and pins
the developers' tools exactly. constraints.txt (written by `make lock`) is the lock: every transitive version,
exact. environment.yml (learners, Binder) and environment-dev.yml install through that lock.
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TORCH_VERSION = "2.13.0"

# name, optional [extras], operator, version; no environment markers expected.
REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
    r"(?P<op>===|==|~=|!=|<=|>=|<|>)?\s*(?P<version>[^\s;]*)\s*(?P<rest>.*)$"
)


def normalize(name):
    """Package name as pip compares it (PEP 503): case and -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(text):
    """Return (normalized name, operator, version) of a requirement string."""
    match = REQUIREMENT.match(text)
    assert match, f"cannot parse requirement {text!r}"
    assert not match["rest"], f"unexpected marker or suffix in {text!r}"
    return normalize(match["name"]), match["op"], match["version"]


def load_pyproject():
    """Requirement strings of pyproject.toml, grouped as {"dependencies": [...], extra: [...]}."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": project.get("dependencies", [])}
    groups.update(project.get("optional-dependencies", {}))
    return groups


def load_constraints():
    """{name: version} of constraints.txt."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, op, version = parse_requirement(line)
        assert op == "==", f"constraints.txt: {line!r} is not an exact == pin"
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = version
    return pins


def load_environment_pip(name="environment.yml"):
    """(requirement lines, option lines) of the pip section of a conda environment file."""
    env = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, f"{name} needs exactly one pip: section"
    lines = [str(item).strip() for item in pip_sections[0]]
    options = [line for line in lines if line.startswith("-")]
    requirements = [line for line in lines if not line.startswith("-")]
    return requirements, options


PYPROJECT = load_pyproject()
RUNTIME = PYPROJECT["dependencies"]
TOOLS = [req for group, reqs in PYPROJECT.items() if group != "dependencies" for req in reqs]
RANGE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)>=(?P<low>[0-9.]+),<(?P<high>[0-9]+)$")


@pytest.mark.parametrize("requirement", RUNTIME)
def test_runtime_ranges_admit_the_locked_release_up_to_the_next_major(requirement):
    match = RANGE.match(requirement)
    assert match, f"pyproject.toml: {requirement!r} must read name>=X.Y,<N (the tested release to the next major)"
    locked = load_constraints()[normalize(match["name"])]
    low = tuple(int(part) for part in match["low"].split("."))
    assert tuple(int(part) for part in locked.split(".")[:len(low)]) == low, (
        f"{requirement}: the lower bound must be the locked release {locked} (the one the outputs were made with)")
    assert int(match["high"]) == int(locked.split(".")[0]) + 1, f"{requirement}: the upper bound is the next major"


@pytest.mark.parametrize("requirement", TOOLS)
def test_developer_tools_are_pinned_exactly(requirement):
    name, op, version = parse_requirement(requirement)
    assert op == "==", f"pyproject.toml: {requirement!r} must be pinned with == (found {op!r})"
    assert version, f"pyproject.toml: {requirement!r} has no version"


def test_torch_is_locked_to_the_cpu_tested_release():
    assert load_constraints().get("torch") == TORCH_VERSION, (
        f"constraints.txt must lock torch=={TORCH_VERSION}; an unpinned torch installs a multi-GB CUDA build")


def test_no_package_is_declared_twice_in_pyproject():
    names = [RANGE.match(r)["name"] if RANGE.match(r) else parse_requirement(r)[0] for r in RUNTIME + TOOLS]
    names = [normalize(n) for n in names]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"pyproject.toml declares these more than once: {duplicates}"


@pytest.mark.parametrize("requirement", TOOLS)
def test_constraints_agree_with_the_pinned_tools(requirement):
    name, _, version = parse_requirement(requirement)
    constraints = load_constraints()
    assert name in constraints, f"{name} is pinned in pyproject.toml but missing from constraints.txt; run make lock"
    assert constraints[name] == version, (
        f"{name}: pyproject.toml pins {version}, constraints.txt pins {constraints[name]}")


@pytest.mark.parametrize("name, extra", [("environment.yml", ""), ("environment-dev.yml", "[test]")])
def test_conda_environments_install_through_the_lock_with_cpu_torch(name, extra):
    requirements, options = load_environment_pip(name)
    assert requirements == [], f"{name} lists packages of its own: the lock and pyproject.toml say them all"
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu", "-c constraints.txt",
                       f"-e .{extra}"], f"{name}'s pip section: {options}"


def test_the_learners_environment_has_no_developer_tools():
    """Binder and a hub built from environment.yml show learners no nbgrader menus and carry no test tools."""
    _, options = load_environment_pip("environment.yml")
    assert "-e ." in options and not any("[" in option for option in options)


def test_the_package_carries_the_locked_runtime_versions():
    """course_utils/locked_versions.json is what make lock writes from constraints.txt and pyproject.toml."""
    import importlib.util
    import json
    spec = importlib.util.spec_from_file_location("write_locked_versions",
                                                  ROOT / "scripts" / "write_locked_versions.py")
    writer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(writer)
    expected = writer.locked_runtime((ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                                     (ROOT / "constraints.txt").read_text(encoding="utf-8"))
    stored = json.loads((ROOT / "course_utils" / "locked_versions.json").read_text(encoding="utf-8"))
    assert stored == expected, "course_utils/locked_versions.json is stale: run make lock"
    assert stored["torch"] == TORCH_VERSION
