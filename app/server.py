"""Serve the Tomes app: `tomes serve` calls `launch()`.

Local only by default (127.0.0.1). Binding any other address needs a password (`--auth
USER:PASSWORD`): the app reads and shows private documents. No telemetry, no CDN: the theme
uses the fonts bundled with Gradio, so the page works with the network off. Stopping the
server (Ctrl+C, SIGTERM, or `Server.close()`) closes the Workspace: the background indexer
stops and the model is freed.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import Workspace
from engine.errors import SettingsError
from engine.settings import Settings

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["Server", "build_app", "launch", "parse_auth", "theme"]

CSS_PATH = Path(__file__).with_name("theme.css")


@dataclass
class Server:
    """A running app (from `launch(block=False)`): its URL, and `close()` to stop it."""

    url: str
    app: gr.Blocks
    workspace: Workspace
    _restore_env: dict[str, str | None] = field(default_factory=dict, repr=False)
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        """Stop serving, stop background indexing and free the model. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.app.close()
        finally:
            self.workspace.close()
            for key, value in self._restore_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def build_app(workspace: Workspace) -> gr.Blocks:
    """The app's Blocks over `workspace` (theme and CSS are `launch()`'s)."""
    from app.handlers import Handlers
    from app.ui import build

    return build(Handlers(workspace))


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


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """'user:password' → (user, password); None stays None."""
    if auth is None:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user.strip() or not password:
        raise SettingsError(
            "--auth must look like USER:PASSWORD (for example --auth anna:'long passphrase')"
        )
    return user.strip(), password


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def launch(
    *,
    project: str | None,
    host: str,
    port: int,
    auth: str | None,
    open_browser: bool,
    workspace: Workspace | None = None,
    block: bool = True,
) -> Server | None:
    """Serve the app at http://host:port/ (port 0 = any free port) and print the URL.

    With `block` (the CLI), serve until Ctrl+C or SIGTERM, then shut down cleanly; without,
    return the running `Server` (tests, embedding)."""
    credentials = parse_auth(auth)
    if not _is_loopback(host) and credentials is None:
        raise SettingsError(
            f"refusing to serve on {host} without a password: anyone on your network could "
            "read your documents. Add --auth USER:PASSWORD, or leave --host at 127.0.0.1"
        )
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
    restore = _quiet_environment(settings.home)
    try:
        app = build_app(ws)
        app.queue(default_concurrency_limit=4)
        port = port or _free_port(host)
        app.launch(
            server_name=host,
            server_port=port,
            auth=credentials,
            inbrowser=open_browser,
            prevent_thread_lock=True,
            quiet=True,
            ssr_mode=False,
            show_error=False,
            footer_links=[],
            allowed_paths=[str(settings.home / "exports")],
            theme=theme(),
            css_paths=[CSS_PATH],
        )
    except BaseException:
        ws.close()
        raise
    display_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{display_host}:{port}/"
    server = Server(url=url, app=app, workspace=ws, _restore_env=restore)
    print(f"Tomes is running at {url}", flush=True)
    if credentials is not None:
        print(f"Password protection is on: sign in as {credentials[0]!r}.", flush=True)
    if not _is_loopback(host):
        print(f"Reachable from other machines on {host}:{port}.", flush=True)
    if not block:
        return server
    _serve_until_stopped(server)
    return None


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
