"""What every handler shares: the user-facing error message, the base class holding the
`Workspace`, and the guards that turn errors into toasts (applied by `app.ui.wiring`, which
knows how many outputs each event has)."""

# No `from __future__ import annotations` in app.handlers: Gradio reads handler type hints at
# run time (gr.EventData / gr.SelectData parameters, and the endpoint types of `gr.api`, whose
# functions "should be fully typed": https://www.gradio.app/main/docs/gradio/api). gr.api takes
# return types from inspect.signature(fn).return_annotation, which PEP 563 turns into a string,
# and it fails on incomplete hints (https://github.com/gradio-app/gradio/issues/11175).

import contextlib
import functools
import inspect
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypedDict, TypeVar

import gradio as gr

from app.handlers.confirm import Confirmations
from app.prefs import UiPrefs
from app.security import AllowedRoots, identity_of
from app.views import sentence
from engine import ChatLog, Project, TomesError, Workspace
from engine.errors import store_error
from ingest.errors import IngestError

__all__ = [
    "NO_PROJECT",
    "SAMPLE_PDF",
    "SAMPLE_PROJECT",
    "SAMPLE_QUESTIONS",
    "ChatTurn",
    "HandlerBase",
    "Outputs",
    "Update",
    "api_errors",
    "skip",
    "toast_errors",
    "user_message",
]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: What `gr.update(...)` and `gr.skip()` return: the properties of one component to change.
Update = dict[str, object]
#: The values of an event's outputs, in the order the wiring lists them (each a component's
#: new value or an `Update`).
Outputs = tuple[object, ...]


class ChatTurn(TypedDict):
    """One message of the chatbot (Gradio's "messages" format)."""

    role: str
    content: str


SAMPLE_PDF = Path(__file__).parent.parent.parent / "assets" / "sample" / "services-agreement.pdf"
SAMPLE_PROJECT = "Sample agreement"
SAMPLE_QUESTIONS = (
    "What is the monthly fee?",
    "How can the agreement be terminated?",
    "Which law governs the agreement?",
)
NO_PROJECT = "Open or create a project first (at the top of the page)."


# ---------------------------------------------------------------------------------- messages
def user_message(exc: BaseException) -> str:
    """A message for the user: engine errors as they are, anything else as "Something went
    wrong" (and logged with its traceback, which the user never sees)."""
    if isinstance(exc, IngestError):
        return sentence(f"{exc.name}: {exc.reason}")
    if isinstance(exc, TomesError):
        return sentence(str(exc))
    if isinstance(exc, sqlite3.Error):  # never "database is locked" raw
        return sentence(str(store_error(exc)))
    log.error("unexpected error in the app", exc_info=exc)
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return f"Something went wrong: {detail}. Details are in the terminal running Tomes."


def skip(n: int) -> Outputs:
    """Leave `n` outputs (n > 1) as they are."""
    return tuple(gr.skip() for _ in range(n))


def _unchanged(n: int) -> object:
    """What leaves an event's `n` outputs as they are (one output takes a bare skip)."""
    return gr.skip() if n == 1 else skip(n)


def toast_errors(fn: Callable[P, object], outputs: int) -> Callable[P, object]:
    """`fn` (a handler wired to `outputs` outputs) with its errors turned into a warning toast
    that leaves every output as it was. A streaming handler (a generator) keeps streaming; an
    error ends it the same way."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args: P.args, **kwargs: P.kwargs) -> Iterator[object]:
            try:
                updates = fn(*args, **kwargs)
                assert isinstance(updates, Iterator)
                yield from updates
            except Exception as exc:
                gr.Warning(user_message(exc))
                yield _unchanged(outputs)

        return stream

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            gr.Warning(user_message(exc))
            return _unchanged(outputs)

    return wrapper


def api_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """For API endpoints: an error becomes `gr.Error` with the same readable message (the
    client raises it), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            raise gr.Error(user_message(exc)) from None

    return wrapper


def _same_bytes(a: Path, b: Path) -> bool:
    """Whether two files hold the same bytes (sizes first, then a streaming compare)."""
    if a.stat().st_size != b.stat().st_size:
        return False
    import filecmp

    return filecmp.cmp(a, b, shallow=False)


# ---------------------------------------------------------------------------------- base
class HandlerBase:
    """The `Workspace` and what the feature handlers share. Handlers raise on error; the
    wiring turns errors into toasts (`toast_errors`)."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        sample: Path | None = None,
        roots: AllowedRoots | None = None,
    ) -> None:
        self.ws = workspace
        self.prefs = UiPrefs(workspace.settings.home)
        self.sample = sample if sample is not None else SAMPLE_PDF
        self.exports_dir = workspace.settings.home / "exports"
        # Folders a path typed in the page may name (the server's own disk).
        self.roots = roots if roots is not None else AllowedRoots.for_server(exposed=False)
        self.confirmations = Confirmations()

    def _exports_for(self, request: gr.Request | None) -> Path:
        """This session's own exports folder (the server serves it to this session only)."""
        identity = identity_of(request) if request is not None else None
        key = identity.export_key if identity is not None else "local"
        return self.exports_dir / key

    @property
    def has_sample(self) -> bool:
        return self.sample.is_file()

    def _project(self, name: str | None) -> Project:
        if not name:
            raise TomesError(NO_PROJECT)
        return self.ws.project(name)

    @contextlib.contextmanager
    def _chatlog(self, name: str | None) -> Iterator[ChatLog]:
        with self.ws.chats(self._project(name)) as chats:
            yield chats

    def _names(self) -> list[str]:
        return [p.name for p in self.ws.list_projects()]

    def _keep_file(
        self, project: Project, path: Path, *, created: list[Path] | None = None
    ) -> Path:
        """Copy an uploaded file into the project folder (0600): the upload cache is
        temporary, and the viewer renders PDF pages from the original file.

        The same name with the same content is the same file; the same name with other
        content is kept beside it as "name (2).ext" (never replacing what is there). A
        dotfile (".env") is refused with a message: it is usually a secret, not a document."""
        source = Path(path)
        if source.name.startswith("."):
            raise TomesError(
                f"{source.name}: skipped: files whose name starts with a dot are usually "
                "settings or secrets; rename it to add it"
            )
        target_dir = project.folder / "files"
        target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if source.resolve().parent == target_dir.resolve():
            return source
        stem, suffix = source.stem, source.suffix
        target = target_dir / source.name
        n = 2
        while target.exists() and not _same_bytes(target, source):
            target = target_dir / f"{stem} ({n}){suffix}"
            n += 1
        if target.exists():
            return target  # the same file again: ingest reports it unchanged
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".upload.")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if created is not None:
            created.append(target)
        return target

    @staticmethod
    def _drop_failed(created: list[Path], failed_names: set[str]) -> None:
        """Remove the copies this batch made of uploads that failed or were skipped: a
        failed upload leaves nothing behind."""
        for path in created:
            if path.name in failed_names:
                path.unlink(missing_ok=True)
