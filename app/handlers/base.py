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
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypedDict, TypeVar

import gradio as gr

from app.prefs import UiPrefs
from app.views import sentence
from engine import ChatLog, Project, TomesError, Workspace
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


# ---------------------------------------------------------------------------------- base
class HandlerBase:
    """The `Workspace` and what the feature handlers share. Handlers raise on error; the
    wiring turns errors into toasts (`toast_errors`)."""

    def __init__(self, workspace: Workspace, *, sample: Path | None = None) -> None:
        self.ws = workspace
        self.prefs = UiPrefs(workspace.settings.home)
        self.sample = sample if sample is not None else SAMPLE_PDF
        self.exports_dir = workspace.settings.home / "exports"

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

    def _keep_file(self, project: Project, path: Path) -> Path:
        """Copy an uploaded file into the project folder: the upload cache is temporary, and
        the viewer renders PDF pages from the original file. The same name again replaces
        the earlier version."""
        target_dir = project.folder / "files"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / Path(path).name
        if Path(path).resolve() == target.resolve():
            return target
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".upload.")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
