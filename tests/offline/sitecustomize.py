"""Refuse every network connection that does not stay on this machine.

Python imports this module at start-up when ``tests/offline`` is on
PYTHONPATH; ``scripts/offline`` puts it there for the test run, so the test
process and every notebook kernel it starts inherit the guard. Only
connections to loopback addresses and Unix sockets are allowed: the course
must work with no network at all.
"""
import ipaddress
import os
import socket

if os.environ.get("COURSE_BLOCK_NETWORK") == "1":
    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def _is_local(host) -> bool:
        if host in ("localhost", "", None):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def _refuse(host):
        raise OSError(f"network access to {host!r} is blocked: the course and its tests must work offline")

    def connect(self, address):
        if isinstance(address, tuple) and not _is_local(address[0]):
            _refuse(address[0])
        return _connect(self, address)

    def connect_ex(self, address):
        if isinstance(address, tuple) and not _is_local(address[0]):
            _refuse(address[0])
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host if not isinstance(host, bytes) else host.decode()):
            _refuse(host)
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
