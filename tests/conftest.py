"""Test-session setup: every test gets its own TOMES_HOME, and no test may open a network
connection to anything but this machine."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


class OutboundConnectionBlocked(AssertionError):
    """A test (or the code under test) tried to reach a non-loopback address."""


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a hostname: only localhost is allowed


@pytest.fixture(scope="session", autouse=True)
def socket_guard() -> Iterator[None]:
    """Fail any outbound connection that is not loopback: no telemetry, no hub, no CDN."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not _is_local(address):
            raise OutboundConnectionBlocked(f"outbound connection to {address!r} blocked in tests")
        return real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if not _is_local(address):
            raise OutboundConnectionBlocked(f"outbound connection to {address!r} blocked in tests")
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "localhost", "") and not _is_local((name,)):
            raise OutboundConnectionBlocked(f"name lookup of {name!r} blocked in tests")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def tomes_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """All Tomes state for one test lives in its own temporary folder."""
    home = tmp_path / "tomes-home"
    monkeypatch.setenv("TOMES_HOME", str(home))
    for var in ("TOMES_MODEL", "TOMES_BACKEND", "TOMES_BUDGET", "TOMES_THREADS", "TOMES_N_CTX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home
