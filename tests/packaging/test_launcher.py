"""The desktop launcher (packaging/launcher.py → app.desktop): it serves on a free loopback
port, prints the URL, opens no browser where there is no display, refuses what it must, and
stops cleanly (exit status 0, Workspace closed, port released) on SIGTERM and Ctrl+C."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.desktop import browser_available, build_parser, main, port_in_use

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "packaging" / "launcher.py"
URL_LINE = re.compile(r"Tomes is running at (http://127\.0\.0\.1:(\d+)/)\?token=([\w-]+)")


def open_signed_in(url: str, *, timeout: float = 30) -> Any:
    """GET `url` (the printed one, with ?token=) the way a browser does: the token redirect
    sets a cookie, and the page is fetched with it."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    return opener.open(url, timeout=timeout)


def assert_port_free(port: int) -> None:
    """Nothing listens on 127.0.0.1:`port` and a new server could bind it."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert not port_in_use("127.0.0.1", port)


@dataclass
class ServerProcess:
    """A launcher (or built app) in a subprocess, its output read by a thread so that it
    can never block on a full pipe."""

    process: subprocess.Popen[str]
    url: str = ""
    port: int = 0
    token: str = ""
    startup_s: float = 0.0
    _lines: queue.Queue[str] = field(default_factory=queue.Queue)
    _seen: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls, command: Sequence[str], env: dict[str, str], *, timeout: float = 120
    ) -> ServerProcess:
        """Start `command` and wait until it prints its URL and the page answers."""
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            cwd=ROOT,
        )
        server = cls(proc)
        threading.Thread(target=server._pump, daemon=True).start()
        base, server.port, server.token = server._wait_for_url(timeout)
        server.url = f"{base}?token={server.token}"
        open_signed_in(server.url).close()
        server.startup_s = time.perf_counter() - started
        return server

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def _drain(self) -> None:
        while True:
            try:
                self._seen.append(self._lines.get_nowait())
            except queue.Empty:
                return

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def headers(self) -> dict[str, str]:
        """What an API client sends to authenticate."""
        return {"X-Tomes-Token": self.token}

    def _wait_for_url(self, timeout: float) -> tuple[str, int, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    self._drain()
                    pytest.fail(f"the app exited ({self.process.returncode}):\n{self.output()}")
                continue
            self._seen.append(line)
            if match := URL_LINE.search(line):
                return match[1], int(match[2]), match[3]
        self.kill()
        pytest.fail(f"no URL printed within {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        """Everything the process printed so far (all of it once it has exited)."""
        if self.process.poll() is not None:
            time.sleep(0.2)  # let the reader thread reach the end of the pipe
        self._drain()
        return "".join(self._seen)

    def wait_for(self, text: str, *, timeout: float = 30) -> str:
        """The output once it contains `text` (or after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while text not in (out := self.output()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def _env(tomes_home: Path) -> dict[str, str]:
    """The test's environment for a child: its TOMES_HOME, and no display to open."""
    env = {**os.environ, "TOMES_HOME": str(tomes_home), "PYTHONUNBUFFERED": "1"}
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        env.pop(var, None)
    return env


def _launcher(*args: str) -> list[str]:
    return [sys.executable, str(LAUNCHER), *args]


@pytest.fixture
def launched(tomes_home: Path) -> Iterator[list[ServerProcess]]:
    """Launchers started by the test; any still running afterwards is killed."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- subprocesses
def test_free_port_url_page_and_clean_sigterm(
    launched: list[ServerProcess], tomes_home: Path
) -> None:
    server = ServerProcess.start(_launcher("--no-browser", "--port", "0"), _env(tomes_home))
    launched.append(server)
    assert server.port > 0
    with open_signed_in(server.url) as page:
        assert page.status == 200
        assert b"gradio" in page.read().lower()
    urls = [line for line in server.output().splitlines() if "?token=" in line]
    assert len(urls) == 1, server.output()  # exactly one line to open
    assert "No browser" not in server.output()  # --no-browser: not even tried
    assert (tomes_home / "cache").is_dir()  # state went to TOMES_HOME

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0, server.output()
    out = server.output()
    assert "Stopping Tomes (SIGTERM)" in out and "Tomes stopped." in out
    assert "Traceback" not in out
    assert_port_free(server.port)


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child needs a console group on Windows")
def test_no_display_prints_the_url_and_ctrl_c_stops_cleanly(
    launched: list[ServerProcess], tomes_home: Path
) -> None:
    """Without --no-browser on a machine with no display: the URL, and a word about it; the
    named port and project are used; Ctrl+C (SIGINT) is a clean stop too."""
    from app.prefs import UiPrefs
    from engine.store.projects import Projects

    Projects(tomes_home).create("Alpha")
    port = _free_port()
    server = ServerProcess.start(
        _launcher("--port", str(port), "--project", "Alpha"), _env(tomes_home)
    )
    launched.append(server)
    assert server.port == port
    out = server.wait_for("Press Ctrl+C")
    assert "No browser to open here (no display): open the address above yourself." in out
    assert UiPrefs(tomes_home).last_project() == "Alpha"  # the page opens it first

    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=60) == 0, server.output()
    assert "Traceback" not in server.output()
    assert_port_free(port)


@pytest.mark.skipif(os.name == "nt", reason="a pseudo-terminal is POSIX")
def test_closing_the_terminal_stops_cleanly(tomes_home: Path) -> None:
    """The terminal window is closed: its output is gone (writes fail), then SIGHUP."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        _launcher("--no-browser"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=_env(tomes_home),
        cwd=ROOT,
        start_new_session=True,
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 120
        while b"Press Ctrl+C" not in seen and time.monotonic() < deadline:
            seen += os.read(master, 4096)
        match = URL_LINE.search(seen.decode("utf-8", "replace"))
        assert match, seen
    finally:
        os.close(master)
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=60) == 0
    assert_port_free(int(match[2]))


def test_main_in_process_restores_signal_handlers(tomes_home: Path) -> None:
    """`app.desktop.main` serves, stops on SIGTERM with status 0, and leaves the process's
    signal handlers as it found them."""
    before = signal.getsignal(signal.SIGTERM)
    port = _free_port()

    def stop_when_serving() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
            except urllib.error.HTTPError:
                pass  # 401 without the token: it is serving
            except OSError:
                time.sleep(0.2)
                continue
            os.kill(os.getpid(), signal.SIGTERM)  # only once main() is serving: it is ours
            return

    threading.Thread(target=stop_when_serving, daemon=True).start()
    assert main(["--no-browser", "--port", str(port)]) == 0
    assert signal.getsignal(signal.SIGTERM) is before
    assert_port_free(port)


def _run(*args: str, tomes_home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _launcher(*args),
        env=_env(tomes_home),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def test_a_public_host_without_a_password_is_refused(tomes_home: Path) -> None:
    done = _run("--host", "0.0.0.0", "--no-browser", tomes_home=tomes_home)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: refusing to serve on 0.0.0.0 without passwords")
    assert "TOMES_AUTH=NAME:PASSWORD" in done.stderr and "--auth-file" in done.stderr
    assert "Traceback" not in done.stderr and "running at" not in done.stdout


def test_a_busy_port_is_a_clear_error(tomes_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _run("--port", str(port), "--no-browser", tomes_home=tomes_home)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: port {port} on 127.0.0.1 is in use. Pass --port 0 (the default) for any "
        "free port, or stop the program using that one.\n"
    )


def test_an_unknown_project_is_a_clear_error(tomes_home: Path) -> None:
    done = _run("--project", "Nope", "--no-browser", tomes_home=tomes_home)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: no project named 'Nope'")


# ---------------------------------------------------------------------------- in process
def test_flags_match_tomes_serve_except_the_default_port() -> None:
    from app.cli import serve_cmd

    serve_flags = {opt for p in serve_cmd.params for opt in p.opts if opt.startswith("--")}
    parser = build_parser()
    ours = {opt for a in parser._actions for opt in a.option_strings if opt.startswith("--")}
    assert serve_flags <= ours
    args = parser.parse_args([])
    assert (args.host, args.port, args.auth, args.no_browser) == ("127.0.0.1", 0, None, False)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert re.fullmatch(r"tomes (\d+\.\d+\.\d+\S*|unknown)\n", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {}, False),
        ("linux", {"DISPLAY": ":0"}, True),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, True),
        ("linux", {"BROWSER": "w3m"}, True),  # the user asked for it
        ("freebsd14", {}, False),
        ("darwin", {}, True),
        ("win32", {}, True),
    ],
)
def test_browser_available(platform: str, env: dict[str, str], expected: bool) -> None:
    assert browser_available(env, platform) is expected


def test_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.listen()
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", port)
