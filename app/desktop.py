"""The desktop entry point: what the packaged app (packaging/launcher.py) runs.

    dist/tomes/tomes [--port N] [--no-browser] [--project NAME] [--host HOST --auth-file F]
    python -m app.desktop …                     (the same, from a source checkout)

It starts the local server on a free loopback port (or `--port N`), opens the default browser
at `http://127.0.0.1:PORT/?token=…` (the per-launch secret signs the browser in; see
`app.security`), or prints that address when there is no browser, and serves until the app
is stopped: Ctrl+C, SIGTERM, SIGHUP (the terminal closed) or, on Windows, Ctrl+Break.
Stopping closes the Workspace (the background indexer stops, the model is freed), releases the
port and exits with status 0. A second signal while stopping exits at once (status 1). All
state lives under TOMES_HOME, as for `tomes serve`.

Unlike `tomes serve`, the port defaults to 0 (any free port): a double-clicked app must not
fail because something else already uses 7860.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import socket
import sys
import threading
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = [
    "browser_available",
    "build_parser",
    "main",
    "port_in_use",
    "restore_child_environment",
]

# Signals that mean "quit": Ctrl+C, kill / logout / service stop, terminal closed, Ctrl+Break.
_STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
    if hasattr(signal, name)
)


def build_parser() -> argparse.ArgumentParser:
    """The launcher's flags: the same as `tomes serve`, except that --port defaults to 0."""
    parser = argparse.ArgumentParser(
        prog="tomes",
        description=(
            "Tomes: ask questions across whole document collections, locally, with cited "
            "answers. Starts the app and opens it in your browser. All data lives under "
            "TOMES_HOME (default: your user data folder); nothing leaves this machine."
        ),
    )
    parser.add_argument(
        "--project", "-p", default=None, help="Project to open (default: the last one)."
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="Address to bind (default 127.0.0.1; any other needs --auth-file or TOMES_AUTH).",
    )
    parser.add_argument("--port", type=int, default=0, help="Port (default 0: any free port).")
    parser.add_argument(
        "--auth-file",
        type=Path,
        default=None,
        help="Users file (NAME:PASSWORD lines) for password sign-in; or set TOMES_AUTH.",
    )
    parser.add_argument("--auth", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--certfile", type=Path, default=None, help="TLS certificate (PEM).")
    parser.add_argument("--keyfile", type=Path, default=None, help="TLS private key (PEM).")
    parser.add_argument(
        "--allow-folder",
        dest="allow_folders",
        action="append",
        type=Path,
        default=[],
        help="A folder the page may add by path (repeatable; default: your home folder).",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="Do not open a browser; print the URL."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tomes")
    except PackageNotFoundError:  # a source checkout that was never pip-installed
        return "unknown"


def browser_available(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether opening a browser can show anything: on Linux and the BSDs that needs a
    graphical session (DISPLAY or WAYLAND_DISPLAY) or a browser the user named in BROWSER."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not (platform.startswith("linux") or "bsd" in platform):
        return True  # macOS and Windows always have a desktop session to open it in
    # Without a display, `webbrowser` falls back to console browsers (lynx, w3m) that would
    # take over the terminal the URL is printed in.
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("BROWSER"))


def port_in_use(host: str, port: int) -> bool:
    """Whether a server already listens on host:port (checked the way uvicorn binds: with
    SO_REUSEADDR, so connections of a server that just stopped do not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let us bind a port in use
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            # Anything else (no such address, a privileged port) is launch()'s to report.
            return exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1))
    return False


def restore_child_environment() -> None:
    """In a PyInstaller bundle, give child processes (the browser) the user's library path.

    The bootloader prepends the bundle's folder to LD_LIBRARY_PATH (saving the original in
    LD_LIBRARY_PATH_ORIG); a browser started with it loads our copies of libssl, libz… and may
    crash. Our own process is unaffected: the dynamic loader read the variable at start-up.
    (PyInstaller manual, "LD_LIBRARY_PATH / LIBPATH considerations".)"""
    if not getattr(sys, "frozen", False):
        return
    for var in ("LD_LIBRARY_PATH", "LIBPATH"):
        original = os.environ.get(var + "_ORIG")
        if original is not None:
            os.environ[var] = original
        else:
            os.environ.pop(var, None)


def _say(text: str, *, error: bool = False) -> None:
    """Print a line, even to a terminal that is gone (SIGHUP: the window was closed)."""
    stream = sys.stderr if error else sys.stdout
    if stream is None:  # a windowed build has no console at all
        return
    with contextlib.suppress(OSError):
        print(text, file=stream, flush=True)


def _open_browser(url: str) -> None:
    if not browser_available():
        _say("No browser to open here (no display): open the address above yourself.")
        return
    try:
        opened = webbrowser.open(url, new=2)
    except webbrowser.Error:
        opened = False
    if not opened:
        _say("Could not open a browser: open the address above yourself.")


class _StopSignals:
    """While entered, the stop signals set an event instead of killing or interrupting (a
    Ctrl+C while the app is still starting then stops it as soon as it has started, with no
    traceback). The previous handlers come back on exit."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous: dict[int, Any] = {}
        self.received: int | None = None

    def __enter__(self) -> _StopSignals:
        for sig in _STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._event.is_set():
            # Shutting down is stuck (a long native call, say): the user insists.
            _say("Stopping now, without waiting.", error=True)
            os._exit(1)
        self.received = signum
        self._event.set()

    def wait(self) -> int:
        """Block until a stop signal has arrived; returns its number."""
        # A timeout, not a bare wait(): the main thread must wake up for handlers to run.
        while not self._event.wait(0.5):
            pass
        assert self.received is not None
        return self.received


def main(argv: Sequence[str] | None = None) -> int:
    """Run the desktop app until it is stopped; returns the exit status (0 after a clean
    stop, 1 when it cannot start, with the reason on stderr). Call from the main thread."""
    args = build_parser().parse_args(argv)
    if os.name == "posix":
        os.umask(0o077)  # everything the app writes is the user's alone
    if args.port and port_in_use(args.host, args.port):
        # Checked before starting anything: gradio's own message talks about its settings.
        _say(
            f"Error: port {args.port} on {args.host} is in use. Pass --port 0 (the default) "
            "for any free port, or stop the program using that one.",
            error=True,
        )
        return 1
    restore_child_environment()
    with _StopSignals() as stop:
        return _serve(args, stop)


def _serve(args: argparse.Namespace, stop: _StopSignals) -> int:
    from app.security import serve_credentials
    from app.server import launch
    from engine.errors import TomesError

    try:
        server = launch(
            project=args.project,
            host=args.host,
            port=args.port,
            credentials=serve_credentials(args.auth, args.auth_file),
            certfile=args.certfile,
            keyfile=args.keyfile,
            allow_folders=args.allow_folders,
            open_browser=False,  # ours: it knows when there is no display
            block=False,
        )
    except TomesError as exc:
        _say(f"Error: {exc}", error=True)
        return 1
    except OSError as exc:  # the address does not exist here, or the port was taken meanwhile
        _say(
            f"Error: cannot serve on {args.host}:{args.port}: {str(exc).split('. ')[0]}.",
            error=True,
        )
        return 1
    assert server is not None  # block=False always returns the server
    try:
        if not args.no_browser:
            _open_browser(server.url)
        _say("Press Ctrl+C (or close this window) to stop Tomes.")
        signum = stop.wait()
        _say(f"Stopping Tomes ({signal.Signals(signum).name})…")
    finally:
        server.close()
    _say("Tomes stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
