"""The version pins in pyproject.toml, constraints.txt and environment.yml agree.

pyproject.toml holds the direct dependencies, each pinned with ==.
constraints.txt (written by `make lock`) pins every transitive version.
environment.yml repeats the runtime and test pins for conda and Binder.
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


def load_environment_pip():
    """(requirement lines, option lines) of the pip section of environment.yml."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    lines = [str(item).strip() for item in pip_sections[0]]
    options = [line for line in lines if line.startswith("-")]
    requirements = [line for line in lines if not line.startswith("-")]
    return requirements, options


PYPROJECT = load_pyproject()
ALL_PINS = [req for group in PYPROJECT.values() for req in group]
# environment.yml mirrors the runtime and test pins; the data extra is only
# for regenerating the shipped dataset and stays out of it.
ENVIRONMENT_GROUPS = ("dependencies", "test")


@pytest.mark.parametrize("requirement", ALL_PINS)
def test_pyproject_pins_are_exact(requirement):
    name, op, version = parse_requirement(requirement)
    assert op == "==", f"pyproject.toml: {requirement!r} must be pinned with == (found {op!r})"
    assert version, f"pyproject.toml: {requirement!r} has no version"


def test_torch_is_pinned_to_the_cpu_tested_release():
    pins = {name: version for name, _, version in map(parse_requirement, PYPROJECT["dependencies"])}
    assert pins.get("torch") == TORCH_VERSION, (
        f"pyproject.toml must pin torch=={TORCH_VERSION} (found {pins.get('torch')!r}); "
        "an unpinned torch installs a multi-GB CUDA build"
    )


def test_no_package_is_pinned_twice_in_pyproject():
    names = [parse_requirement(r)[0] for r in ALL_PINS]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"pyproject.toml pins these more than once: {duplicates}"


@pytest.mark.parametrize("requirement", ALL_PINS)
def test_constraints_agree_with_pyproject(requirement):
    name, _, version = parse_requirement(requirement)
    constraints = load_constraints()
    assert name in constraints, (
        f"{name} is pinned in pyproject.toml but missing from constraints.txt; run make lock"
    )
    assert constraints[name] == version, (
        f"{name}: pyproject.toml pins {version}, constraints.txt pins {constraints[name]}"
    )


@pytest.mark.parametrize(
    "requirement", [r for group in ENVIRONMENT_GROUPS for r in PYPROJECT.get(group, [])]
)
def test_environment_agrees_with_pyproject(requirement):
    name, _, version = parse_requirement(requirement)
    requirements, _ = load_environment_pip()
    env_pins = {n: v for n, _, v in map(parse_requirement, requirements)}
    assert name in env_pins, f"{name}=={version} is in pyproject.toml but not in environment.yml"
    assert env_pins[name] == version, (
        f"{name}: pyproject.toml pins {version}, environment.yml pins {env_pins[name]}"
    )


def test_environment_lists_nothing_outside_pyproject():
    requirements, _ = load_environment_pip()
    known = {parse_requirement(r)[0] for r in ALL_PINS}
    for line in requirements:
        name, op, _ = parse_requirement(line)
        assert name in known, f"environment.yml installs {name}, which pyproject.toml does not pin"
        assert op == "==", f"environment.yml: {line!r} must be pinned with =="


def test_environment_installs_the_course_package():
    _, options = load_environment_pip()
    assert "-e ." in options, "environment.yml's pip section must include '-e .'"
