"""JupyterLab as `make lab` starts it: the token guards it, and a notebook runs through the server's API.

The server gets exactly the flags of `make lab` (read with `make -s
print-lab-args`) on a free loopback port with a random token. Only its
environment differs: no desktop browser is opened, and its runtime files go to
a temporary folder. The test opens notebook 00 through the contents API,
starts a kernel session through the REST API, runs the notebook's code cells
over the kernel's websocket, and finally stops the server by its process id.
Everything stays on 127.0.0.1 and is bounded in time.
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import websocket

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "notebooks/00_start_here.ipynb"
HOST = "127.0.0.1"
BUDGET_SECONDS = 90  # the whole test: start-up, every cell, shut-down
STOP_SECONDS = 15


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def lab_args(port: int, token: str) -> list[str]:
    """The command-line flags `make lab` passes to `jupyter lab`, for this port and token."""
    result = subprocess.run(["make", "-s", "--no-print-directory", "print-lab-args", f"PORT={port}",
                             f"TOKEN={token}"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    return shlex.split(result.stdout)


def request(port: int, method: str, path: str, token: str | None = None, body=None):
    """(status, headers, body bytes) of one HTTP request to the server; redirects are not followed."""
    connection = http.client.HTTPConnection(HOST, port, timeout=20)
    headers = {"Authorization": f"token {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture
def lab(tmp_path):
    """A running JupyterLab server started like `make lab`: yields (port, token, process)."""
    port, token = free_port(), secrets.token_hex(16)
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", *lab_args(port, token)]
    assert f"--port={port}" in command and f"--IdentityProvider.token={token}" in command
    environment = dict(os.environ, BROWSER="true",  # "open a browser" runs `true`: nothing opens
                       JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log_path = tmp_path / "lab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if request(port, "GET", "/api/status", token)[0] == 200:
                    break
            except OSError:
                pass  # not listening yet
            if time.monotonic() - started > 45:
                pytest.fail(f"jupyter lab did not answer within 45 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield port, token, process, started
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop the server by its process id: SIGTERM, then SIGKILL if it has not exited in time."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_SECONDS)


def kernel_message(msg_type: str, content: dict, session: str) -> dict:
    """A Jupyter messaging-protocol message for the shell channel, in the websocket's JSON form."""
    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "test", "session": session,
              "date": datetime.now(timezone.utc).isoformat(), "version": "5.3"}
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell",
            "buffers": []}


def decode(frame) -> dict:
    """A websocket frame as a message; binary frames carry buffers after the JSON part."""
    if isinstance(frame, str):
        return json.loads(frame)
    count = int.from_bytes(frame[:4], "big")
    offsets = [int.from_bytes(frame[4 * (i + 1):4 * (i + 2)], "big") for i in range(count)]
    end = offsets[1] if count > 1 else None
    return json.loads(frame[offsets[0]:end].decode("utf-8"))


def run_cell(ws, code: str, session: str, deadline: float) -> tuple[dict, list[dict], str]:
    """Execute code in the kernel; (execute_reply content, error contents, stdout text) of the run."""
    request_message = kernel_message("execute_request", {
        "code": code, "silent": False, "store_history": True, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": True}, session)
    msg_id = request_message["header"]["msg_id"]
    ws.send(json.dumps(request_message))
    reply, errors, stdout, idle = None, [], "", False
    while reply is None or not idle:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            message = decode(ws.recv())
        except websocket.WebSocketTimeoutException:
            pytest.fail(f"the notebook did not finish within {BUDGET_SECONDS} s; stuck at:\n{code}")
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message["header"]["msg_type"]
        if kind == "execute_reply":
            reply = message["content"]
        elif kind == "error":
            errors.append(message["content"])
        elif kind == "stream" and message["content"]["name"] == "stdout":
            stdout += message["content"]["text"]
        elif kind == "status" and message["content"]["execution_state"] == "idle":
            idle = True
    return reply, errors, stdout


def test_lab_needs_the_token_and_runs_a_notebook(lab):
    port, token, process, started = lab
    deadline = started + BUDGET_SECONDS

    status, _, body = request(port, "GET", "/lab", token)
    assert status == 200, f"/lab with the token answered {status}"
    assert b"JupyterLab" in body

    status, headers, _ = request(port, "GET", "/lab")
    assert status in (302, 303), f"/lab without a token answered {status}, not a redirect to the login page"
    assert headers["Location"].startswith("/login"), f"/lab without a token redirects to {headers['Location']}"

    status, _, body = request(port, "GET", f"/api/contents/{NOTEBOOK}?content=1", token)
    assert status == 200, f"opening {NOTEBOOK} through the contents API answered {status}"
    notebook = json.loads(body)["content"]
    cells = [cell["source"] for cell in notebook["cells"] if cell["cell_type"] == "code" and cell["source"].strip()]
    assert cells, f"{NOTEBOOK} has no code cells"

    status, _, body = request(port, "POST", "/api/sessions", token, {
        "path": NOTEBOOK, "name": Path(NOTEBOOK).name, "type": "notebook", "kernel": {"name": "python3"}})
    assert status == 201, f"creating a kernel session answered {status}: {body[:500]!r}"
    session = json.loads(body)
    kernel_id = session["kernel"]["id"]
    client_session = uuid.uuid4().hex

    ws = websocket.create_connection(
        f"ws://{HOST}:{port}/api/kernels/{kernel_id}/channels?session_id={client_session}",
        header=[f"Authorization: token {token}"], timeout=20)
    try:
        reply, errors, stdout = run_cell(ws, "import os; print(os.getcwd())", client_session, deadline)
        assert reply["status"] == "ok", errors
        assert Path(stdout.strip()) == ROOT / Path(NOTEBOOK).parent, "the kernel runs beside its notebook"
        for index, code in enumerate(cells):
            reply, errors, _ = run_cell(ws, code, client_session, deadline)
            assert not errors and reply["status"] == "ok", (
                f"code cell {index} of {NOTEBOOK} failed in the server's kernel: "
                + "; ".join(f"{e['ename']}: {e['evalue']}" for e in errors or [reply]))
    finally:
        ws.close()

    status, _, _ = request(port, "DELETE", f"/api/sessions/{session['id']}", token)
    assert status == 204, f"deleting the session answered {status}"

    stop(process)
    assert process.returncode is not None, "the server is still running after SIGTERM and SIGKILL"
    assert time.monotonic() - started < BUDGET_SECONDS + STOP_SECONDS
