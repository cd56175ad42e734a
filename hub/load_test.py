"""Load test: N simulated learners on a JupyterHub of their own, on loopback, bounded in time.

    python hub/load_test.py --learners 8          (make hub-load N=8)

It starts the hub of hub/jupyterhub_config.py on free 127.0.0.1 ports, with its state and the learners' homes
in --folder, and serves the course from a bare clone of this repository's committed history. Each learner,
started --stagger seconds after the one before, logs in with the shared password, takes an API token, starts
its server, pulls the course through the nbgitpuller link, then runs each of --notebooks from learner/ in a
kernel of its own, as a learner who opens one notebook after the other: the first kernel keeps running while
the second works, so the second notebook's figures show what a second kernel costs. Every notebook is saved
with its outputs and read back.

Per learner the JSON report has: seconds to the first output (from logging in), in all, and per step; peak
memory of the whole server (kernels and their sweep workers included) and of each kernel, as RSS and as PSS
(shared pages split among their sharers: what the machine holds), and of the server alone; the CPU seconds
of the server, its kernels and their workers; failures. The summary gives the median, minimum and maximum of
each. Learner notebooks are used, not solutions: an unanswered exercise prints "not yet solved" and the notebook
runs on to the end, as a learner's does. Exit status 1 when any learner failed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

from harness import Hub, HubError, Learner, MemoryWatch, make_course_repository

ROOT = Path(__file__).resolve().parents[1]
TARGET = "regularization-course"


async def learner_session(hub: Hub, name: str, password: str, repo: str, branch: str, notebooks: list[str],
                          notebook_timeout: float, watch: MemoryWatch) -> dict:
    learner = Learner(hub, name)
    record: dict = {"name": name, "failures": [], "notebooks": []}
    try:
        if not await learner.log_in(password):
            raise HubError("the hub refused the shared password")
        answer = await learner.request_token(password)
        if answer.status != 201:
            raise HubError(f"token request answered {answer.status}")
        await learner.start_server()
        await learner.pull(repo, branch)
        for notebook in notebooks:
            path = f"{TARGET}/learner/{notebook}"
            run = await learner.run_notebook(path, notebook_timeout)
            saved = (await learner.contents(path))["content"]
            saved_outputs = sum(len(cell.get("outputs", [])) for cell in saved["cells"])
            record["notebooks"].append({**vars(run), "saved_outputs": saved_outputs})
            if run.error:
                record["failures"].append(f"{notebook}: {run.error}")
            if saved_outputs != run.outputs or not saved_outputs:
                record["failures"].append(f"{notebook}: saved {saved_outputs} outputs of {run.outputs}")
    except Exception as error:   # noqa: BLE001  a learner's failure is recorded, the others go on
        record["failures"].append(f"{type(error).__name__}: {error}")
    record["events_s"] = learner.events
    record["total_s"] = round(time.monotonic() - learner.started, 2)
    runs = record["notebooks"]
    if runs and runs[0]["first_output_s"] is not None:
        record["first_output_s"] = round(runs[0]["began_s"] + runs[0]["first_output_s"], 2)
    watch.sample()   # the last sample, before the hub stops the servers
    record["peak_mb"] = {key: watch.peak_mb(name, key) for key in ("total", "total_pss", "server")}
    record["cpu_s"] = watch.cpu_seconds(name)
    for run in runs:   # a kernel's peak can come after its notebook ended, while the next one runs
        run["kernel_peak_mb"] = watch.peak_mb(name, f"kernel:{run['kernel_id']}")
        run["kernel_peak_pss_mb"] = watch.peak_mb(name, f"kernel_pss:{run['kernel_id']}")
    return record


def spread(values: list[float]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": round(statistics.median(values), 1), "max": round(max(values), 1),
            "min": round(min(values), 1)}


def summary(records: list[dict], notebooks: list[str]) -> dict:
    result = {
        "learners": len(records),
        "failed_learners": sum(bool(r["failures"]) for r in records),
        "first_output_s": spread([r.get("first_output_s") for r in records]),
        "total_s": spread([r["total_s"] for r in records]),
        "server_ready_s": spread([r["events_s"].get("server_ready") for r in records]),
        "pulled_s": spread([r["events_s"].get("pulled") for r in records]),
        "peak_total_mb": spread([r["peak_mb"]["total"] for r in records]),
        "peak_total_pss_mb": spread([r["peak_mb"]["total_pss"] for r in records]),
        "peak_server_mb": spread([r["peak_mb"]["server"] for r in records]),
        "cpu_s": spread([r["cpu_s"] for r in records]),
        "sum_of_peak_totals_pss_mb": round(sum(r["peak_mb"]["total_pss"] or 0 for r in records), 1),
    }
    for index, notebook in enumerate(notebooks):
        runs = [r["notebooks"][index] for r in records if len(r["notebooks"]) > index]
        result[notebook] = {"seconds": spread([run["seconds"] for run in runs]),
                            "kernel_peak_mb": spread([run["kernel_peak_mb"] for run in runs]),
                            "kernel_peak_pss_mb": spread([run["kernel_peak_pss_mb"] for run in runs])}
    return result


async def load_test(args) -> dict:
    if args.folder.exists():
        shutil.rmtree(args.folder)
    args.folder.mkdir(parents=True)
    repo, branch = (args.repo, args.branch) if args.repo else make_course_repository(args.folder)
    password = secrets.token_urlsafe(16)
    names = [f"learner{i:02d}" for i in range(args.learners)]
    watch = MemoryWatch(names)
    load_before = os.getloadavg()
    with Hub(args.folder, password) as hub:
        sampler = asyncio.create_task(watch.run())
        started = time.monotonic()

        async def staggered(index: int, name: str) -> dict:
            await asyncio.sleep(index * args.stagger)
            return await learner_session(hub, name, password, repo, branch, args.notebooks,
                                         args.notebook_timeout, watch)

        try:
            records = await asyncio.wait_for(
                asyncio.gather(*(staggered(i, name) for i, name in enumerate(names))), args.timeout)
        finally:
            sampler.cancel()
        wall = round(time.monotonic() - started, 1)
    return {
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PHYS_PAGES")
                                                               * os.sysconf("SC_PAGE_SIZE") / 2 ** 30, 1),
                    "platform": platform.platform(), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "versions": {name: version(name) for name in ("jupyterhub", "nbgitpuller", "jupyterhub-idle-culler",
                                                      "jupyter_server", "torch")},
        "settings": {"learners": args.learners, "notebooks": args.notebooks, "stagger_s": args.stagger,
                     "repository": repo, "branch": branch},
        "wall_s": wall,
        "summary": summary(records, args.notebooks),
        "learners": records,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=8)
    parser.add_argument("--notebooks", nargs="+", default=["00_start_here.ipynb", "05_dropout.ipynb"],
                        help="learner notebooks each learner runs, each in a kernel of its own")
    parser.add_argument("--stagger", type=float, default=2.0, help="seconds between two learners' logins")
    parser.add_argument("--timeout", type=float, default=1500, help="seconds for the whole run")
    parser.add_argument("--notebook-timeout", type=float, default=900, help="seconds for one notebook")
    parser.add_argument("--folder", type=Path, default=ROOT / "build" / "hub-load",
                        help="the hub's state and the learners' homes (emptied first)")
    parser.add_argument("--report", type=Path, default=ROOT / "build" / "hub-load-report.json")
    parser.add_argument("--repo", help="the repository to pull (default: a bare clone of this one in --folder)")
    parser.add_argument("--branch", default="main")
    args = parser.parse_args(argv)
    missing = [n for n in args.notebooks if not (ROOT / "learner" / n).exists()]
    if missing:
        parser.error(f"not in learner/: {missing}")
    report = asyncio.run(load_test(args))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"wall_s": report["wall_s"], **report["summary"]}, indent=2))
    print(f"Report: {args.report}")
    for record in report["learners"]:
        for failure in record["failures"]:
            print(f"FAILED {record['name']}: {failure}", file=sys.stderr)
    return 1 if report["summary"]["failed_learners"] else 0


if __name__ == "__main__":
    sys.exit(main())
