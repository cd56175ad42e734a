"""The course runs with the network cut off: the guard works, and `make test` runs under it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

GUARD_DIR = Path(__file__).parent / "offline"

PROBE = """
import socket
try:
    socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: refused before any packet
except OSError as exc:
    print("refused:", exc)
try:
    socket.getaddrinfo("example.org", 443)
except OSError as exc:
    print("refused:", exc)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
socket.create_connection(server.getsockname()).close()
print("loopback allowed")
"""


def test_guard_refuses_outside_connections_and_allows_loopback():
    env = {**os.environ, "COURSE_BLOCK_NETWORK": "1", "PYTHONPATH": str(GUARD_DIR)}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("refused: network access to") == 2, out.stdout
    assert "loopback allowed" in out.stdout


@pytest.mark.skipif(os.environ.get("COURSE_BLOCK_NETWORK") != "1", reason="not run through scripts/offline")
def test_this_test_run_is_offline():
    import socket
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
