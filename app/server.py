"""Serve the Tomes app: `tomes serve` calls `launch()`.

Local only by default (127.0.0.1). Every launch makes a new secret (a token, like Jupyter's):
the address Tomes opens or prints is `http://127.0.0.1:PORT/?token=…`, and nothing on the
server answers without it (see `app.security`). Binding any other address also needs named
users with passwords (`TOMES_AUTH` or `--auth-file`): the app reads and shows private
documents. Gradio is mounted on a FastAPI app (`gr.mount_gradio_app`) behind that boundary
and served by uvicorn in a thread; optional TLS with `--certfile/--keyfile`.

No telemetry, no CDN: the theme uses the fonts bundled with Gradio, so the page works with
the network off. Stopping the server (Ctrl+C, SIGTERM, or `Server.close()`) closes the
Workspace: the background indexer stops and the model is freed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import threading
import time
import webbrowser
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.security import (
    AllowedRoots,
    Boundary,
    BoundaryConfig,
    Credentials,
    allowed_hosts_for,
    identity_of,
    is_loopback,
    new_token,
)
from engine import Workspace
from engine.errors import SettingsError
from engine.settings import Settings

if TYPE_CHECKING:
    import gradio as gr
    import uvicorn

__all__ = ["Server", "build_app", "launch", "theme"]

CSS_PATH = Path(__file__).with_name("theme.css")
#: How long stopping waits for open requests (a browser's event stream) before closing them.
_GRACEFUL_STOP_S = 1.5


@dataclass
class Server:
    """A running app (from `launch(block=False)`): `url` opens it signed in (it carries the
    launch token); `base_url` is the bare address; `close()` stops it."""

    url: str
    base_url: str
    token: str
    app: gr.Blocks
    workspace: Workspace
    _http: uvicorn.Server | None = field(default=None, repr=False)
    _loop: _LoopProbe | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _restore_env: dict[str, str | None] = field(default_factory=dict, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """Headers an API client sends to authenticate (e.g. `gradio_client.Client(...,
        headers=server.headers)`)."""
        return {"X-Tomes-Token": self.token}

    def close(self) -> None:
        """Stop serving, stop background indexing and free the model. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            # Tell Gradio's open event streams to end, from their own event loop (an
            # asyncio.Event set from this thread would not wake them), then close the queue.
            if self._loop is not None:
                self._loop.stop_streams()
            self.app.close(verbose=False)
            if self._http is not None and self._thread is not None:
                self._http.should_exit = True
                self._thread.join(timeout=_GRACEFUL_STOP_S)
                if self._thread.is_alive():
                    # An idle client (a browser tab, gradio_client's heartbeat) still holds a
                    # stream open: stop without waiting for it.
                    self._http.force_exit = True
                    self._thread.join(timeout=10)
        finally:
            self.workspace.close()
            _restore(self._restore_env)


def build_app(workspace: Workspace, *, roots: AllowedRoots | None = None) -> gr.Blocks:
    """The app's Blocks over `workspace` (theme and CSS are `launch()`'s); `roots` are the
    folders a path typed in the page may name (default: the home folder, minus hidden
    folders)."""
    from app.handlers import Handlers
    from app.ui import build

    return build(Handlers(workspace, roots=roots))


def theme() -> Any:
    """A sober theme with Gradio's bundled fonts (the default would be fine too, but naming
    the fonts keeps any Google Fonts URL out of the page)."""
    import gradio as gr
    from gradio.themes.utils.fonts import LocalFont

    return gr.themes.Base(
        primary_hue=gr.themes.colors.blue,
        secondary_hue=gr.themes.colors.amber,
        neutral_hue=gr.themes.colors.slate,
        radius_size=gr.themes.sizes.radius_sm,
        font=[LocalFont("IBM Plex Sans"), "ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=[LocalFont("IBM Plex Mono"), "ui-monospace", "monospace"],
    ).set(
        body_background_fill="#f6f7f9",
        block_border_width="1px",
        button_primary_background_fill="#1f3a5f",
        button_primary_background_fill_hover="#2b4f7e",
        button_primary_text_color="#ffffff",
        button_primary_border_color="#1f3a5f",
    )


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0 = any free port), bound before the server
    starts so that a taken port fails here, with the OS's reason."""
    name = host.strip("[]")
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(name).version == 6 else socket.AF_INET
        address: Any = (name, port)
    except ValueError:  # a host name: resolve it
        family, _, _, _, address = socket.getaddrinfo(
            name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let us bind a port in use
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class _LoopProbe:
    """ASGI wrapper that remembers the server's event loop (seen at lifespan start-up) and
    the mounted Gradio app, so that `close()` can end Gradio's streams from that loop."""

    def __init__(self, app: Any, gradio_app: Any) -> None:
        self.app = app
        self.gradio_app = gradio_app
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "lifespan":
            self.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)

    def stop_streams(self) -> None:
        event = getattr(self.gradio_app, "stop_event", None)
        if self.loop is not None and event is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                self.loop.call_soon_threadsafe(event.set)
                time.sleep(0.2)  # let the streams see it and end


def _asgi_app(
    blocks: gr.Blocks, config: BoundaryConfig, *, host: str, port: int, exports: Path
) -> _LoopProbe:
    """FastAPI app with Gradio mounted at / and the boundary in front of everything."""
    import gradio as gr
    from fastapi import FastAPI
    from starlette.middleware.cors import CORSMiddleware

    fastapi_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # Our own CORS policy (no foreign origin may read anything) replaces Gradio's, which
    # would allow other localhost origins.
    fastapi_app.add_middleware(CORSMiddleware, allow_origins=[])

    def user_of(request: Any) -> str | None:  # Gradio's own routes refuse without one too
        identity = identity_of(request)
        return identity.user if identity is not None else None

    gr.mount_gradio_app(
        fastapi_app,
        blocks,
        path="/",
        server_name=host,
        server_port=port,
        footer_links=[],
        auth_dependency=user_of,
        allowed_paths=[str(exports)],
        show_error=False,
        ssr_mode=False,
        theme=theme(),
        css_paths=[CSS_PATH],
    )
    fastapi_app.add_middleware(Boundary, config=config)  # outermost: runs first
    from starlette.routing import Mount

    mounted = next(r.app for r in fastapi_app.routes if isinstance(r, Mount) and r.path == "")
    return _LoopProbe(fastapi_app, mounted)


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    if (certfile is None) != (keyfile is None):
        raise SettingsError("TLS needs both --certfile and --keyfile")
    for label, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None and not path.expanduser().is_file():
            raise SettingsError(f"{label} {path}: there is no such file")


def launch(
    *,
    project: str | None,
    host: str,
    port: int,
    open_browser: bool,
    credentials: Credentials | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    allow_folders: Sequence[Path] = (),
    workspace: Workspace | None = None,
    block: bool = True,
) -> Server | None:
    """Serve the app on host:port (port 0 = any free port) and print the address to open.

    `credentials` (named users, see `app.security.load_credentials`) turn on password
    sign-in; they are required for any host that is not loopback. With `block` (the CLI),
    serve until Ctrl+C or SIGTERM, then shut down cleanly; without, return the running
    `Server` (tests, the desktop launcher). `allow_folders` may be added by path in the
    page (besides the home folder on loopback; alone when exposed)."""
    import uvicorn

    exposed = not is_loopback(host)
    if exposed and credentials is None:
        raise SettingsError(
            f"refusing to serve on {host} without passwords: anyone on your network could "
            "read your documents. Set TOMES_AUTH=NAME:PASSWORD in the environment or pass "
            "--auth-file FILE (see `tomes serve --help`), or leave --host at 127.0.0.1"
        )
    _check_tls(certfile, keyfile)
    settings = workspace.settings if workspace is not None else Settings.load()
    ws = workspace or Workspace(settings)
    if project is not None:
        from app.prefs import UiPrefs

        try:  # a wrong name fails here, listing the known ones; a right one opens first
            name = ws.project(project).name
        except BaseException:
            if workspace is None:
                ws.close()
            raise
        UiPrefs(settings.home).remember(name)
    exports = settings.home / "exports"
    try:
        sock = _bind(host, port)
    except BaseException:
        if workspace is None:
            ws.close()
        raise
    port = int(sock.getsockname()[1])
    tls = certfile is not None
    token = new_token()
    config = BoundaryConfig(
        token=token,
        port=port,
        allowed_hosts=allowed_hosts_for(host),
        credentials=credentials,
        tls=tls,
        exports_dir=exports,
    )
    restore = _quiet_environment(settings.home)
    try:
        roots = AllowedRoots.for_server(exposed=exposed, allow=allow_folders)
        app = build_app(ws, roots=roots)
        app.queue(default_concurrency_limit=4)
        asgi = _asgi_app(app, config, host=host, port=port, exports=exports)
        uv_config = uvicorn.Config(
            asgi,
            log_level="warning",
            ssl_certfile=str(certfile.expanduser()) if certfile else None,
            ssl_keyfile=str(keyfile.expanduser()) if keyfile else None,
            timeout_graceful_shutdown=int(_GRACEFUL_STOP_S * 4),
        )
        try:
            uv_config.load()  # here, not in the thread: a bad certificate is reported
        except (OSError, ValueError) as exc:
            raise SettingsError(f"cannot use the TLS certificate or key: {exc}") from None
        http = uvicorn.Server(uv_config)
        thread = threading.Thread(
            target=http.run, kwargs={"sockets": [sock]}, name="tomes-http", daemon=True
        )
        thread.start()
        _wait_started(http, thread)
    except BaseException:
        sock.close()
        ws.close()
        _restore(restore)
        raise
    scheme = "https" if tls else "http"
    # The address to open: this machine's loopback when serving on every address.
    local_host = "127.0.0.1" if host.strip("[]") in ("0.0.0.0", "::") else host.strip("[]")
    display = f"[{local_host}]" if ":" in local_host else local_host
    base_url = f"{scheme}://{display}:{port}/"
    server = Server(
        url=f"{base_url}?token={token}",
        base_url=base_url,
        token=token,
        app=app,
        workspace=ws,
        _http=http,
        _thread=thread,
        _loop=asgi,
        _restore_env=restore,
    )
    print(f"Tomes is running at {server.url}", flush=True)
    if exposed:
        where = f"{scheme}://{host}:{port}/" if host not in ("0.0.0.0", "::") else (
            f"{scheme}://<this machine's name or address>:{port}/"
        )  # fmt: skip
        print(
            f"Reachable from other machines at {where}: sign in with a name and password "
            f"from {credentials.source if credentials else ''}.",
            flush=True,
        )
        if not tls:
            print(
                "Warning: without --certfile/--keyfile, passwords and documents cross the "
                "network unencrypted.",
                flush=True,
            )
    elif credentials is not None:
        print(f"Password sign-in is on too (users from {credentials.source}).", flush=True)
    if open_browser:
        webbrowser.open(server.url, new=2)
    if not block:
        return server
    _serve_until_stopped(server)
    return None


def _wait_started(http: uvicorn.Server, thread: threading.Thread, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not http.started:
        if not thread.is_alive():
            raise SettingsError("the web server stopped while starting (see the log above)")
        if time.monotonic() > deadline:
            http.should_exit = True
            raise SettingsError(f"the web server did not start within {timeout:.0f} s")
        time.sleep(0.01)


def _restore(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _quiet_environment(home: Path) -> dict[str, str | None]:
    """No telemetry; uploads cached under TOMES_HOME instead of a shared /tmp folder. Returns
    the previous values, restored on close."""
    wanted = {
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_TEMP_DIR": os.environ.get("GRADIO_TEMP_DIR") or str(home / "cache" / "uploads"),
    }
    previous = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    if os.name == "posix":  # uploads are private documents: a 0700 folder, made here
        for folder in (home, home / "cache", home / "cache" / "uploads"):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                folder.chmod(0o700)
    return previous


def _serve_until_stopped(server: Server) -> None:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("Press Ctrl+C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping Tomes…", flush=True)
        server.close()
