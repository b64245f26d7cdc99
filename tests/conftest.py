"""Test-session setup: every test gets its own TOMES_HOME, and no test may open a network
connection to anything but this machine."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    for var in [v for v in os.environ if v.startswith("TOMES_")]:
        monkeypatch.delenv(var, raising=False)  # a developer's own settings must not leak in
    monkeypatch.setenv("TOMES_HOME", str(home))
    # The test's folder is its home folder too: the app reads folders typed in the page
    # only under the home folder (app.security.AllowedRoots), and tests add tmp folders.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def embedded_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real embedded GGUF, assembled and sha256-verified once per test session."""
    from engine.llm.modelfile import assemble_embedded_model

    return assemble_embedded_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def real_model_env(embedded_model: Path, tomes_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for tests that answer with the real model through llama.cpp (small
    context so they stay fast on 2 CPU cores)."""
    monkeypatch.setenv("TOMES_MODEL_PATH", str(embedded_model))
    monkeypatch.setenv("TOMES_MODEL_N_CTX", "4096")
    monkeypatch.setenv("TOMES_RETRIEVAL_BUDGET", "1500")
    monkeypatch.setenv("TOMES_MODEL_MAX_ANSWER_TOKENS", "160")
    return embedded_model


@pytest.fixture
def serve() -> Iterator[Any]:
    """`serve(workspace)` starts the app on a free port; every server stops after the test."""
    from app.server import Server, launch
    from engine.workspace import Workspace

    servers: list[Server] = []

    def start(workspace: Workspace, **kwargs: Any) -> Server:
        server = launch(
            project=kwargs.pop("project", None),
            host=kwargs.pop("host", "127.0.0.1"),
            port=0,
            open_browser=False,
            workspace=workspace,
            block=False,
            **kwargs,
        )
        assert server is not None
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
