"""The recipes beyond one machine (Zero to JupyterHub, The Littlest JupyterHub) cannot run here: their shape can.

Each key of hub/beyond/values.yaml must be one the jupyterhub Helm chart documents (its configuration
reference, chart 4.x), each `tljh-config set` key one TLJH documents, and the limits must be those
hub/SIZING.md derives from the load test. The image's Dockerfile copies files that exist and pins what the
course pins.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEYOND = ROOT / "hub" / "beyond"
# The keys this course sets, each documented in the chart's configuration reference
# (zero-to-jupyterhub.readthedocs.io, "Configuration Reference").
CHART_KEYS = {
    "hub.config.JupyterHub.authenticator_class", "hub.config.Authenticator.allow_all",
    "cull.enabled", "cull.timeout", "cull.every",
    "singleuser.image.name", "singleuser.image.tag", "singleuser.defaultUrl",
    "singleuser.memory.limit", "singleuser.memory.guarantee", "singleuser.cpu.limit", "singleuser.cpu.guarantee",
    "singleuser.storage.capacity", "singleuser.extraEnv", "scheduling.userScheduler.enabled",
    "prePuller.hook.enabled",
}
# tljh-config keys documented by The Littlest JupyterHub ("Configuring TLJH with tljh-config").
TLJH_KEYS = {"limits.memory", "limits.cpu", "services.cull.timeout", "user_environment.default_app",
             "https.enabled", "https.letsencrypt.email"}


def leaves(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path != "singleuser.extraEnv":
            yield from leaves(value, path + ".")
        else:
            yield path, value


def test_the_helm_values_use_only_documented_keys_and_the_measured_limits():
    values = dict(leaves(yaml.safe_load((BEYOND / "values.yaml").read_text())))
    assert set(values) <= CHART_KEYS, set(values) - CHART_KEYS
    sizing = (ROOT / "hub" / "SIZING.md").read_text()
    for key, setting in [("singleuser.memory.limit", "mem_limit"), ("singleuser.memory.guarantee", "mem_guarantee"),
                         ("singleuser.cpu.limit", "cpu_limit"), ("singleuser.cpu.guarantee", "cpu_guarantee")]:
        assert re.search(rf"`{setting}`[^|]*\| `{values[key]}`", sizing), (key, values[key])
    assert values["cull.enabled"] is True


def test_the_tljh_recipe_sets_documented_keys_and_the_same_limits():
    text = (BEYOND / "tljh.md").read_text()
    settings = dict(re.findall(r"tljh-config set (\S+) (\S+)", text))
    assert set(settings) <= TLJH_KEYS and {"limits.memory", "limits.cpu", "services.cull.timeout"} <= set(settings)
    helm = yaml.safe_load((BEYOND / "values.yaml").read_text())
    assert settings["limits.memory"] == helm["singleuser"]["memory"]["limit"]
    assert float(settings["limits.cpu"]) == helm["singleuser"]["cpu"]["limit"]


def test_the_image_copies_what_exists_and_pins_what_the_course_pins():
    dockerfile = (BEYOND / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, flags=re.MULTILINE):
        assert all((ROOT / source).exists() for source in sources.split()), sources
    hub_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["hub"]
    nbgitpuller = next(pin for pin in hub_extra if pin.startswith("nbgitpuller=="))
    assert f'"{nbgitpuller}"' in dockerfile and "-c /tmp/course/constraints.txt" in dockerfile
    assert "download.pytorch.org/whl/cpu" in dockerfile   # the CPU build, never CUDA
    assert nbgitpuller.split("==")[1] in (BEYOND / "tljh.md").read_text()
