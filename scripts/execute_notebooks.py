"""Re-execute notebooks in place and report each one's wall time and peak memory.

Usage (from the repository root; `make execute` runs it with the test settings):

    python scripts/execute_notebooks.py notebooks/*.ipynb
    python scripts/execute_notebooks.py --timings-file instructor/timings.json notebooks/*.ipynb

Each notebook runs top to bottom in a fresh kernel whose working directory is
the notebook's folder. The kernel is always the interpreter running this
script (like nbval's --nbval-current-env), whatever kernelspecs are installed
elsewhere. A notebook is written back only if every cell ran without error;
the first error stops the run with exit status 1, leaving that notebook as it
was on disk.

Peak memory is the resident set size (RSS) of the kernel and all its child
processes, sampled every 50 ms, and at least the kernel's own high-water mark
where the operating system reports one (Linux).

With --timings-file, each notebook's seconds and peak MB are also merged into
that JSON file under the notebook's file name (entries of notebooks not run
this time are kept); the instructor guide's agendas are built from it.
"""

import argparse
import glob
import json
import re
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import zmq
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from traitlets import default

KERNEL_NAME = "python3"
CELL_TIMEOUT_SECONDS = 600
SAMPLE_SECONDS = 0.05
# The course's budget on a 2-core laptop: measured here and reported, not asserted.
BUDGET_SECONDS_PER_NOTEBOOK = 90
BUDGET_MB_PER_NOTEBOOK = 1536
BUDGET_SECONDS_TOTAL = 8 * 60
# A code cell carrying this comment prints timings, which no later run reproduces: its output is not stored.
VOLATILE = "# Timings vary from run to run: the stored notebook keeps no output of this cell."
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_REFERENCE = re.compile(r"IPY_MODEL_(\w+)")


class CurrentInterpreterKernelSpecs(KernelSpecManager):
    """Kernelspecs in which "python3" always means this very interpreter."""

    def get_kernel_spec(self, kernel_name):
        if kernel_name == KERNEL_NAME:
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())
        return super().get_kernel_spec(kernel_name)


class CurrentInterpreterKernelManager(AsyncKernelManager):
    """The kernel manager nbclient creates: kernels from the specs above, and
    CurveZMQ-encrypted kernel traffic wherever pyzmq supports it."""

    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self):
        return CurrentInterpreterKernelSpecs(data_dir=self.data_dir)

    @default("transport_encryption")
    def _default_transport_encryption(self):
        return "auto" if zmq.has("curve") else "disabled"


class PeakMemory:
    """Track the peak RSS, in bytes, of a process and its descendants.

    A background thread samples the process tree until `stop` is called.
    """

    def __init__(self):
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self, pid):
        self._thread = threading.Thread(target=self._sample, args=(pid,), daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _sample(self, pid):
        try:
            root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for process in tree:
                    try:
                        total += process.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass  # a child that ended between listing and reading
                self.peak_bytes = max(self.peak_bytes, total, high_water_mark(pid))
            except psutil.NoSuchProcess:
                return  # the kernel has shut down
            self._stop.wait(SAMPLE_SECONDS)


def high_water_mark(pid):
    """Peak RSS in bytes the kernel has ever had (Linux VmHWM), or 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError):
        pass
    return 0


def expand(patterns):
    """Notebook paths from arguments; a pattern the shell left unexpanded is globbed here."""
    paths = []
    for pattern in patterns:
        if Path(pattern).exists():
            paths.append(Path(pattern))
        elif glob.has_magic(pattern):
            paths.extend(Path(p) for p in sorted(glob.glob(pattern)))
        else:
            sys.exit(f"No such notebook: {pattern}")
    return paths


def drop_volatile_outputs(notebook):
    """Empty the outputs of the cells marked VOLATILE (their execution counts stay: they did run)."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and VOLATILE in cell.source:
            cell.outputs = []


def merge_streams(notebook):
    """Join each cell's consecutive outputs to the same stream: how the kernel split its printing depends on
    when it flushed, which no later run reproduces."""
    for cell in notebook.cells:
        merged = []
        for output in cell.get("outputs", []):
            if (output.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == output.name):
                merged[-1].text += output.text
            else:
                merged.append(output)
        if cell.cell_type == "code":
            cell.outputs = merged


def stable_widget_ids(notebook):
    """The notebook with its widgets' random model ids renamed in their order of appearance (outputs first, then
    the models they reference), so that running it again does not rewrite its stored widget state."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    order = []

    def visit(model_id):
        if model_id in state and model_id not in order:
            order.append(model_id)
            for reference in WIDGET_REFERENCE.findall(json.dumps(state[model_id], sort_keys=True)):
                visit(reference)

    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            visit(output.get("data", {}).get(WIDGET_VIEW, {}).get("model_id"))
    for model_id in sorted(state, key=lambda m: WIDGET_REFERENCE.sub("", json.dumps(state[m], sort_keys=True))):
        visit(model_id)   # models no output shows, in an order that does not depend on their ids
    if not order:
        return notebook
    names = {model_id: f"widget{number:04d}" for number, model_id in enumerate(order)}
    every_id = re.compile("|".join(re.escape(model_id) for model_id in order))   # one pass: no renaming chains
    return nbformat.reads(every_id.sub(lambda found: names[found.group()], nbformat.writes(notebook)), as_version=4)


def changed_cells(stored, fresh):
    """Execution counts (the n of In [n]) of the code cells whose fresh outputs differ from the stored ones.

    After a change to the code, these are its effects. On a run of unchanged code, a cell listed here does not
    reproduce its own outputs, unless it states a claim about speed (notebooks 03 and 06 have one each)."""
    pairs = zip([c for c in stored.cells if c.cell_type == "code"], [c for c in fresh.cells if c.cell_type == "code"])
    return [new.execution_count for old, new in pairs if old.outputs != new.outputs]


def execute(path):
    """Run one notebook in place; return (seconds, peak bytes, numbers of the code cells whose outputs changed)."""
    notebook = nbformat.read(path, as_version=4)
    stored = nbformat.read(path, as_version=4)
    memory = PeakMemory()
    client = NotebookClient(
        notebook,
        kernel_manager_class=CurrentInterpreterKernelManager,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_SECONDS,
        # Timing metadata changes on every run and would churn the stored notebooks.
        record_timing=False,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        on_notebook_start=lambda notebook: memory.start(client.km.provisioner.process.pid),
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        memory.stop()
    seconds = time.perf_counter() - start
    drop_volatile_outputs(notebook)
    merge_streams(notebook)
    notebook = stable_widget_ids(notebook)
    nbformat.write(notebook, path)
    return seconds, memory.peak_bytes, changed_cells(stored, notebook)


def save_timings(json_path, name, seconds, megabytes):
    """Merge one notebook's measurement into the JSON file, keeping the other notebooks' entries."""
    timings = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else {}
    timings[name] = {"seconds": round(seconds, 1), "peak_mb": round(megabytes)}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(dict(sorted(timings.items())), indent=2) + "\n", encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook files or glob patterns")
    parser.add_argument("--timings-file", type=Path,
                        help="JSON file to merge each notebook's seconds and peak MB into")
    args = parser.parse_args(argv)

    paths = expand(args.notebooks)
    if not paths:
        print("No notebooks to execute.")
        return 0

    width = max(len("notebook"), *(len(str(p)) for p in paths))
    print(f"{'notebook':<{width}}  {'seconds':>8}  {'peak MB':>8}  outputs changed (In [n])", flush=True)
    total_seconds = 0.0
    over_budget = []
    for path in paths:
        try:
            seconds, peak_bytes, changed = execute(path)
        except (CellExecutionError, CellTimeoutError) as error:
            print(f"{str(path):<{width}}  FAILED; the notebook was not written\n\n{error}",
                  file=sys.stderr)
            return 1
        total_seconds += seconds
        megabytes = peak_bytes / 2**20
        if args.timings_file:
            save_timings(args.timings_file, path.name, seconds, megabytes)
        over = seconds > BUDGET_SECONDS_PER_NOTEBOOK or megabytes > BUDGET_MB_PER_NOTEBOOK
        over_budget += [path.name] if over else []
        print(f"{str(path):<{width}}  {seconds:8.1f}  {megabytes:8.0f}  {', '.join(map(str, changed)) or 'none'}"
              f"{'  OVER BUDGET' if over else ''}", flush=True)
    print(f"{'total':<{width}}  {total_seconds:8.1f}")
    print(f"budget: {BUDGET_SECONDS_PER_NOTEBOOK} s and {BUDGET_MB_PER_NOTEBOOK} MB per notebook, "
          f"{BUDGET_SECONDS_TOTAL} s in all: "
          + ("met" if not over_budget and total_seconds <= BUDGET_SECONDS_TOTAL
             else f"NOT met ({', '.join(over_budget) or 'total time'})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
