"""A JupyterHub on loopback and simulated learners that use it as a browser would, through its REST APIs.

The load test (hub/load_test.py) and tests/test_hub.py share it. A `Hub` runs hub/jupyterhub_config.py on free
127.0.0.1 ports with its state and the learners' homes in a folder of its own. A `Learner` logs in with the
shared password, takes an API token, starts its server, pulls the course with nbgitpuller, runs notebooks in
kernels of its own over the kernel websocket and saves them with their outputs through the contents API.
`MemoryWatch` samples the resident memory of each learner's server and kernels. Everything has a deadline.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode

import nbformat
import psutil
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from nbgitpuller_link import pull_query

HUB_DIR = Path(__file__).resolve().parent
CONFIG = HUB_DIR / "jupyterhub_config.py"
PROXY = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
HOST = "127.0.0.1"
REQUEST_SECONDS = 180     # one HTTP request, a spawn on a busy machine included
MB = 2 ** 20
# Every learner's requests share one client: room for a whole class of long requests (pulls, spawns) at once.
AsyncHTTPClient.configure(None, max_clients=256)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class HubError(RuntimeError):
    """The hub or a learner's server answered other than a browser session needs."""


class Hub:
    """jupyterhub with the course's configuration, on free loopback ports, its files under `folder`."""

    def __init__(self, folder: Path, password: str, cull_timeout: int = 3600):
        self.folder, self.password = Path(folder), password
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.homes = self.folder / "homes"
        self.log_path = self.folder / "hub.log"
        self.environment = {**os.environ, "HUB_PASSWORD": password, "HUB_PORT": str(self.port),
                            "HUB_API_PORT": str(free_port()), "HUB_PROXY_API_PORT": str(free_port()),
                            "HUB_STATE_DIR": str(self.folder / "state"), "HUB_HOMES": str(self.homes),
                            "HUB_CULL_TIMEOUT": str(cull_timeout)}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> "Hub":
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            # SIGINT back to its default: a shell's background job ignores it, its children inherit that, and
            # the hub then waits 30 s for the idle culler to answer the SIGINT it sends at shutdown.
            self.process = subprocess.Popen([str(Path(sys.executable).with_name("jupyterhub")), "-f", str(CONFIG)],
                                            cwd=self.folder, env=self.environment, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HubError(f"jupyterhub exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    pass
                if "JupyterHub is now running" in self.log_path.read_text(errors="replace"):
                    return self
            except OSError:
                pass   # not listening yet
            time.sleep(0.5)
        self.stop()
        raise HubError(f"jupyterhub did not start within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, characters: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM by process id: the hub stops the learners' servers, its services and its proxy."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> "Hub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


async def fetch(url: str, method: str = "GET", *, token: str | None = None, body=None, form: dict | None = None,
                cookies: dict | None = None, timeout: float = REQUEST_SECONDS) -> Response:
    """One HTTP request, redirects not followed, errors returned rather than raised."""
    headers = {"Authorization": f"token {token}"} if token else {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if form is not None:
        headers["Content-Type"], body = "application/x-www-form-urlencoded", urlencode(form)
    elif body is not None:
        headers["Content-Type"], body = "application/json", json.dumps(body)
    elif method in ("POST", "PUT", "PATCH"):
        body = ""
    response = await AsyncHTTPClient().fetch(HTTPRequest(
        url, method=method, headers=headers, body=body, follow_redirects=False, request_timeout=timeout,
        connect_timeout=30), raise_error=False)
    if response.code == 599:   # no HTTP answer at all: refused, reset or timed out
        raise HubError(f"{method} {url}: {response.error}")
    return Response(response.code, dict(response.headers.get_all()), response.body or b"")


def set_cookies(response: Response, cookies: dict) -> None:
    jar = SimpleCookie()
    for name, value in response.headers.items():
        if name.lower() == "set-cookie":
            jar.load(value)
    cookies.update({name: morsel.value for name, morsel in jar.items()})


def output_messages(message: dict) -> bool:
    return message["header"]["msg_type"] in ("stream", "display_data", "execute_result", "error")


@dataclass
class NotebookRun:
    """How one notebook went: seconds to its first output and in all, cells run, and the first error."""
    path: str
    kernel_id: str = ""
    began_s: float = 0.0            # seconds after the learner started
    first_output_s: float | None = None
    seconds: float | None = None
    cells_run: int = 0
    outputs: int = 0
    error: str | None = None


@dataclass
class Learner:
    """One simulated learner: a name, the hub, and the token it receives when it logs in."""
    hub: Hub
    name: str
    token: str = ""
    events: dict = field(default_factory=dict)      # seconds since `started` at which each step ended
    started: float = field(default_factory=time.monotonic)

    @property
    def server(self) -> str:
        return f"{self.hub.url}/user/{self.name}"

    def mark(self, event: str) -> float:
        self.events[event] = round(time.monotonic() - self.started, 2)
        return self.events[event]

    async def log_in(self, password: str) -> bool:
        """The login form as a browser sends it (with its xsrf cookie); True when the hub lets the learner in."""
        cookies: dict = {}
        page = await fetch(f"{self.hub.url}/hub/login", cookies=cookies)
        set_cookies(page, cookies)
        answer = await fetch(f"{self.hub.url}/hub/login", "POST", cookies=cookies,
                             form={"username": self.name, "password": password, "_xsrf": cookies.get("_xsrf", "")})
        logged_in = answer.status == 302
        if logged_in:
            self.mark("logged_in")
        return logged_in

    async def request_token(self, password: str) -> Response:
        """An API token for this learner, authenticated by name and password in the request body."""
        answer = await fetch(f"{self.hub.url}/hub/api/users/{self.name}/tokens", "POST",
                             body={"auth": {"username": self.name, "password": password},
                                   "note": "simulated learner", "expires_in": 3600})
        if answer.status == 201:
            self.token = answer.json()["token"]
        return answer

    async def start_server(self, timeout: float = REQUEST_SECONDS) -> None:
        """Ask the hub for this learner's server and wait until it is ready."""
        answer = await fetch(f"{self.hub.url}/hub/api/users/{self.name}/server", "POST", token=self.token)
        if answer.status not in (201, 202):
            raise HubError(f"starting {self.name}'s server answered {answer.status}: {answer.body[:300]!r}")
        await self._wait_for_server(ready=True, timeout=timeout)
        self.mark("server_ready")

    async def stop_server(self, timeout: float = 60) -> None:
        answer = await fetch(f"{self.hub.url}/hub/api/users/{self.name}/server", "DELETE", token=self.token)
        if answer.status not in (202, 204):
            raise HubError(f"stopping {self.name}'s server answered {answer.status}: {answer.body[:300]!r}")
        await self._wait_for_server(ready=False, timeout=timeout)

    async def _wait_for_server(self, ready: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = (await fetch(f"{self.hub.url}/hub/api/users/{self.name}", token=self.token)).json()
            server = model.get("servers", {}).get("")
            if (bool(server and server.get("ready")) if ready else not server):
                return
            await asyncio.sleep(0.5)
        raise HubError(f"{self.name}'s server was not {'ready' if ready else 'stopped'} within {timeout} s")

    async def pull(self, repo: str, branch: str) -> list[str]:
        """What the nbgitpuller link does once the learner is logged in: clone, or merge the newest commits."""
        query = urlencode(pull_query(repo, branch))
        answer = await fetch(f"{self.server}/git-pull/api?{query}", token=self.token)
        events = [json.loads(line[len("data:"):]) for line in answer.body.decode().splitlines()
                  if line.startswith("data:")]
        if answer.status != 200 or not events or events[-1].get("phase") != "finished":
            last = events[-1] if events else answer.body[:300]
            raise HubError(f"nbgitpuller for {self.name} answered {answer.status}: {last}")
        self.mark("pulled")
        return [event.get("output", "") for event in events]

    async def contents(self, path: str) -> dict:
        answer = await fetch(f"{self.server}/api/contents/{quote(path)}?content=1", token=self.token)
        if answer.status != 200:
            raise HubError(f"opening {path} for {self.name} answered {answer.status}")
        return answer.json()

    async def save(self, path: str, notebook: dict) -> None:
        answer = await fetch(f"{self.server}/api/contents/{quote(path)}", "PUT", token=self.token,
                             body={"type": "notebook", "format": "json", "content": notebook})
        if answer.status not in (200, 201):
            raise HubError(f"saving {path} for {self.name} answered {answer.status}: {answer.body[:300]!r}")

    async def run_notebook(self, path: str, timeout: float) -> NotebookRun:
        """Open the notebook in a kernel of its own, run its code cells in order (stopping at the first error,
        as Run All does), then save it with the outputs. The kernel stays running, as in JupyterLab."""
        run = NotebookRun(path)
        notebook = nbformat.from_dict((await self.contents(path))["content"])
        answer = await fetch(f"{self.server}/api/sessions", "POST", token=self.token, body={
            "path": path, "name": Path(path).name, "type": "notebook", "kernel": {"name": "python3"}})
        if answer.status != 201:
            raise HubError(f"starting a kernel for {path} answered {answer.status}: {answer.body[:300]!r}")
        run.kernel_id = answer.json()["kernel"]["id"]
        client_session = uuid.uuid4().hex
        began = time.monotonic()
        run.began_s = round(began - self.started, 2)
        deadline = began + timeout
        ws = await websocket_connect(HTTPRequest(
            f"ws://{HOST}:{self.hub.port}/user/{self.name}/api/kernels/{run.kernel_id}/channels"
            f"?session_id={client_session}", headers={"Authorization": f"token {self.token}"},
            request_timeout=REQUEST_SECONDS, connect_timeout=30))
        try:
            for cell in notebook.cells:
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                cell.outputs, cell.execution_count = [], None
                reply = await self._execute(ws, cell, client_session, deadline, run, began)
                run.cells_run += 1
                if reply["status"] != "ok":
                    run.error = f"cell {run.cells_run}: {reply.get('ename')}: {reply.get('evalue')}"
                    break
        except asyncio.TimeoutError:
            run.error = f"not finished within {timeout} s (after {run.cells_run} cells)"
        finally:
            ws.close()
        run.seconds = round(time.monotonic() - began, 2)
        run.outputs = sum(len(cell.get("outputs", [])) for cell in notebook.cells)
        await self.save(path, notebook)
        return run

    async def _execute(self, ws, cell, session: str, deadline: float, run: NotebookRun, began: float) -> dict:
        """Send one execute_request and collect its outputs into the cell until the kernel is idle again."""
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name, "session": session,
                  "date": datetime.now(timezone.utc).isoformat(),
                  "version": "5.3"}
        await ws.write_message(json.dumps({
            "header": header, "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": cell.source, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        reply, idle = None, False
        while reply is None or not idle:
            frame = await asyncio.wait_for(ws.read_message(), max(0.1, deadline - time.monotonic()))
            if frame is None:
                raise HubError(f"{self.name}'s kernel websocket closed")
            message = decode(frame)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            if output_messages(message):
                if run.first_output_s is None:
                    run.first_output_s = round(time.monotonic() - began, 2)
                cell.outputs.append(nbformat.v4.output_from_msg(message))
            elif kind == "execute_input":
                cell.execution_count = message["content"]["execution_count"]
            elif kind == "execute_reply":
                reply = message["content"]
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                idle = True
        return reply


def decode(frame) -> dict:
    """A kernel websocket frame as a message; binary frames carry buffers after the JSON part."""
    if isinstance(frame, str):
        return json.loads(frame)
    count = int.from_bytes(frame[:4], "big")
    offsets = [int.from_bytes(frame[4 * (i + 1):4 * (i + 2)], "big") for i in range(count)]
    return json.loads(frame[offsets[0]:offsets[1] if count > 1 else None].decode("utf-8"))


def server_process(user: str) -> psutil.Process | None:
    """The learner's single-user server: the process the hub started with JUPYTERHUB_USER=user."""
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any("jupyterhub-singleuser" in part for part in process.info["cmdline"] or []) \
                    and process.environ().get("JUPYTERHUB_USER") == user:
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def tree_usage(process: psutil.Process) -> tuple[int, int, float]:
    """(RSS bytes, PSS bytes, CPU seconds) of a process and all its descendants (sweep workers included).

    RSS counts every shared page in full in every process that maps it (torch's libraries, copy-on-write pages
    of forked workers); PSS splits each shared page among its sharers, so PSS adds up to what the machine holds.
    CPU seconds include the descendants that have already exited and been waited for.
    """
    rss = pss = cpu = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            memory, times = member.memory_full_info(), member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        rss, pss = rss + memory.rss, pss + memory.pss
        cpu += times.user + times.system + times.children_user + times.children_system
    return rss, pss, cpu


class MemoryWatch:
    """Peaks per learner, sampled every `interval` s: RSS and PSS of the whole server with its kernels, RSS of
    the server alone, RSS and PSS of each kernel (with its children) by kernel id, and the CPU seconds used."""

    def __init__(self, users: list[str], interval: float = 1.0):
        self.users, self.interval = users, interval
        self.peaks: dict[str, dict[str, int]] = {user: {} for user in users}
        self.servers: dict[str, psutil.Process] = {}    # found once, looked for again after a restart

    def sample(self) -> None:
        for user in self.users:
            server = self.servers.get(user)
            if server is None or not server.is_running():
                server = self.servers[user] = server_process(user)
            if server is None:
                continue
            try:
                parts = dict(zip(("total", "total_pss", "cpu_s"), tree_usage(server)),
                             server=server.memory_info().rss)
                for child in server.children():
                    kernel = next((arg.split("kernel-")[-1].removesuffix(".json") for arg in child.cmdline()
                                   if "kernel-" in arg and arg.endswith(".json")), None)
                    if kernel:
                        parts[f"kernel:{kernel}"], parts[f"kernel_pss:{kernel}"], _ = tree_usage(child)
            except psutil.NoSuchProcess:
                continue
            peaks = self.peaks[user]
            for key, value in parts.items():
                peaks[key] = max(peaks.get(key, 0), value)

    async def run(self) -> None:
        while True:
            await asyncio.get_running_loop().run_in_executor(None, self.sample)
            await asyncio.sleep(self.interval)

    def peak_mb(self, user: str, key: str) -> float | None:
        value = self.peaks[user].get(key)
        return None if value is None else round(value / MB, 1)

    def cpu_seconds(self, user: str) -> float | None:
        value = self.peaks[user].get("cpu_s")
        return None if value is None else round(value, 1)


def make_course_repository(folder: Path, source: Path = HUB_DIR.parent) -> tuple[str, str]:
    """A bare clone of the course's committed history in `folder`: (the repository to pull, its branch)."""
    bare = folder / "regularization-course.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(source), str(bare)], check=True, timeout=120)
    branch = subprocess.run(["git", "-C", str(bare), "symbolic-ref", "--short", "HEAD"], check=True,
                            capture_output=True, text=True, timeout=30).stdout.strip()
    return str(bare), branch
