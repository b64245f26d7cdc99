"""What the app does when the user acts: functions that take UI values, call the engine and
return UI values (component updates, HTML, chat messages). `app.ui` only lays out and wires;
`app.views` renders engine values as HTML and Markdown; `app.prefs` remembers the last project.

Every engine error (`TomesError`, `IngestError`) becomes a short message (a warning toast or a
status line), never a stack trace; anything unexpected is logged and shown as "Something went
wrong: …". Nothing here keeps global state: one `Handlers` per app holds the `Workspace`, and
per-tab state travels in `gr.State` values.
"""

# No `from __future__ import annotations` here: `gr.api` reads the API functions' type hints
# at runtime to describe the endpoints, and it needs real types, not strings.

import contextlib
import functools
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
from gradio import FileData

from app.prefs import UiPrefs
from app.views import (
    VIEWER_EMPTY,
    answer_markdown,
    chips_html,
    documents_rows,
    event_detail,
    file_table_html,
    node_label,
    node_markdown,
    png,
    progress_line,
    sentence,
    short,
    source_html,
    summary_line,
    viewer_head,
)
from engine.errors import TomesError
from engine.export import collect, write_report
from engine.memory import TreeReader
from engine.projects import Project
from engine.sessions import ChatLog, answer_from_json, citations_from_json, locator_from_json
from engine.store import ProjectStore
from engine.types import Citation, locator_json
from engine.viewer import SourceView, open_source
from engine.workspace import Workspace
from ingest.errors import IngestError
from ingest.types import Locator

__all__ = [
    "SAMPLE_PDF",
    "SAMPLE_PROJECT",
    "SAMPLE_QUESTIONS",
    "Handlers",
    "api_errors",
    "chat_messages",
    "friendly",
    "user_message",
]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

SAMPLE_PDF = Path(__file__).parent.parent / "assets" / "sample" / "services-agreement.pdf"
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


def _skip(n: int) -> Any:
    return gr.skip() if n == 1 else tuple(gr.skip() for _ in range(n))


def friendly(outputs: int) -> Callable[[F], F]:
    """Wrap a handler with `outputs` outputs: an error becomes a warning toast and leaves every
    output as it was. (The streaming handlers, `ask` and `add_sources`, report their errors
    in place instead.)"""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                gr.Warning(user_message(exc))
                return _skip(outputs)

        return wrapper  # type: ignore[return-value]

    return decorate


def api_errors(fn: F) -> F:
    """For API endpoints: an error becomes `gr.Error` with the same readable message (the
    client raises it), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            raise gr.Error(user_message(exc)) from None

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------------- chat log
def chat_messages(chats: ChatLog, session_id: int) -> tuple[list[dict[str, str]], list[int]]:
    """A saved session as chatbot messages, and the message ids in the same order."""
    messages: list[dict[str, str]] = []
    ids: list[int] = []
    for m in chats.messages(session_id):
        if m.role == "assistant" and m.answer_json:
            content = answer_markdown(answer_from_json(m.answer_json))
        else:
            content = m.text
        messages.append(
            {"role": "assistant" if m.role == "assistant" else "user", "content": content}
        )
        ids.append(m.id)
    return messages, ids


# ---------------------------------------------------------------------------------- exports
def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:60] or "report"


# ---------------------------------------------------------------------------------- handlers
class Handlers:
    """Every action of the app, over one `Workspace`. Method outputs are listed in their
    docstrings in the order `app.ui` wires them."""

    def __init__(self, workspace: Workspace, *, sample: Path | None = None) -> None:
        self.ws = workspace
        self.prefs = UiPrefs(workspace.settings.home)
        self.sample = sample if sample is not None else SAMPLE_PDF
        self.exports_dir = workspace.settings.home / "exports"

    @property
    def has_sample(self) -> bool:
        return self.sample.is_file()

    # ------------------------------------------------------------------ helpers
    def _project(self, name: str | None) -> Project:
        if not name:
            raise TomesError(NO_PROJECT)
        return self.ws.project(name)

    @contextlib.contextmanager
    def _chatlog(self, name: str | None) -> Iterator[ChatLog]:
        with self._project(name).open() as store:
            yield ChatLog(store)

    def _names(self) -> list[str]:
        return [p.name for p in self.ws.projects.list()]

    def _choice(self, current: str | None, *, tab: str | None = None) -> tuple[Any, ...]:
        """Outputs: project dropdown, welcome panel, main panel, tabs, project tools."""
        names = self._names()
        if current not in names:
            current = None
        self.prefs.remember(current)
        return (
            gr.update(choices=names, value=current, visible=bool(names)),
            gr.update(visible=current is None),
            gr.update(visible=current is not None),
            gr.update(selected=tab) if tab else gr.skip(),
            gr.update(visible=current is not None),
        )

    # ------------------------------------------------------------------ projects
    @friendly(outputs=5)
    def start(self) -> tuple[Any, ...]:
        """On page load: the last opened project (`tomes serve --project` sets it), else the
        first; none gives the welcome panel."""
        names = self._names()
        last = self.prefs.last_project()
        return self._choice(last if last in names else names[0] if names else None)

    @friendly(outputs=5)
    def switch_project(self, name: str | None) -> tuple[Any, ...]:
        self._project(name)  # a stale dropdown (deleted in another tab) says so
        return self._choice(name)

    @friendly(outputs=7)
    def create_project(self, name: str | None) -> tuple[Any, ...]:
        """Outputs: those of `_choice`, then the name box (cleared) and the form (hidden)."""
        project = self.ws.projects.create(name or "")
        gr.Info(f"Project “{project.name}” created. Add documents to it here.", duration=6)
        return (*self._choice(project.name, tab="docs"), "", gr.update(visible=False))

    @friendly(outputs=5)
    def create_sample_project(self) -> tuple[Any, ...]:
        """A project holding the sample agreement (created and read on first use)."""
        if not self.has_sample:
            raise TomesError("the sample document is not installed with this copy of Tomes")
        project = self.ws.project(SAMPLE_PROJECT, create=True)
        for event in self.ws.ingest(project, [self._keep_file(project, self.sample)]):
            if event.failed:
                raise TomesError(f"the sample could not be read: {event.reason}")
        gr.Info("The sample agreement is ready. Try: " + " · ".join(SAMPLE_QUESTIONS), duration=6)
        return self._choice(project.name, tab="ask")

    def show_form(self, value: str | None = "") -> tuple[Any, Any]:
        """Outputs: a form row (shown) and its text box (filled with `value`)."""
        return gr.update(visible=True), value or ""

    def hide(self) -> Any:
        return gr.update(visible=False)

    @friendly(outputs=6)
    def rename_project(self, current: str | None, new_name: str | None) -> tuple[Any, ...]:
        """Outputs: those of `_choice`, then the rename form (hidden)."""
        project = self._project(current)
        renamed = self.ws.projects.rename(project.name, new_name or "")
        return (*self._choice(renamed.name), gr.update(visible=False))

    @friendly(outputs=2)
    def confirm_delete_project(self, current: str | None) -> tuple[Any, Any]:
        """Outputs: the confirmation row (shown) and its question."""
        project = self._project(current)
        with project.open() as store:
            stats = store.stats()
        question = (
            f"Delete the project **{project.name}** ({stats['documents']} documents) with its "
            "chats and notes? This cannot be undone. Your original files are not touched."
        )
        return gr.update(visible=True), question

    @friendly(outputs=6)
    def delete_project(self, current: str | None) -> tuple[Any, ...]:
        project = self._project(current)
        self.ws.indexer.cancel(project, wait=10.0)
        self.ws.projects.delete(project.name)
        gr.Info(f"Project “{project.name}” deleted.", duration=6)
        names = self._names()
        return (*self._choice(names[0] if names else None), gr.update(visible=False))

    # ------------------------------------------------------------------ status line
    def status_line(self, project: str | None) -> str:
        """The project's one-line status: background indexing, or what the project holds."""
        if not project:
            return ""
        try:
            proj = self._project(project)
            job = self.ws.job(proj)
            if job.running or job.error:
                return f"↻ {job.describe()}" if job.running else f"⚠ {job.describe()}"
            with proj.open() as store:
                stats = store.stats()
            if not stats["documents"]:
                return "No documents yet: add some under **Documents**."
            tree = self.ws.index_status(proj).tree
            if tree.total and not tree.complete:
                tree_text = f"summary tree {tree.done} of {tree.total} parts"
            else:
                tree_text = "summary tree ready" if tree.total else "summary tree not built"
            docs, chunks = stats["documents"], stats["chunks"]
            return (
                f"{docs} document{'s' if docs != 1 else ''} · "
                f"{chunks:,} passage{'s' if chunks != 1 else ''} · {tree_text}"
            )
        except Exception as exc:
            return f"⚠ {user_message(exc)}"

    def refresh_status(self, project: str | None) -> tuple[str, Any]:
        """Outputs: status line, the poll memory (reset)."""
        return self.status_line(project), None

    def poll_status(self, project: str | None, seen: Any) -> tuple[Any, Any, Any]:
        """Timer tick. Outputs: status line, poll memory, summary-tree dropdown (refreshed
        when indexing ends). Cheap: reads the in-memory job state and only looks at the
        database when that state changed."""
        if not project:
            return gr.skip(), seen, gr.skip()
        try:
            job = self.ws.job(self._project(project))
            key = [job.running, job.phase, job.done, job.total, job.error, job.finished_at]
            if key == seen:
                return gr.skip(), seen, gr.skip()
            if job.running:
                return f"↻ {job.describe() or 'Indexing…'}", key, gr.skip()
            with self._project(project).open() as store:
                starts = self._tree_starts(store)
            return self.status_line(project), key, gr.update(choices=starts)
        except Exception:
            return gr.skip(), seen, gr.skip()

    # ------------------------------------------------------------------ sessions and chat
    @friendly(outputs=5)
    def load_chat(self, project: str | None, session_id: int | None = None) -> tuple[Any, ...]:
        """Outputs: session dropdown, chatbot, message ids, selected answer id, chips."""
        if not project:
            return gr.update(choices=[], value=None), [], [], None, chips_html([])
        with self._chatlog(project) as chats:
            sessions = chats.sessions()
            ids = [s.id for s in sessions]
            if session_id not in ids:
                session_id = ids[0] if ids else None
            messages, msg_ids = chat_messages(chats, session_id) if session_id else ([], [])
            answer_id, citations = self._last_answer(chats, msg_ids)
        choices = [(s.title, s.id) for s in sessions]
        return (
            gr.update(choices=choices, value=session_id),
            messages,
            msg_ids,
            answer_id,
            chips_html(citations),
        )

    def _last_answer(
        self, chats: ChatLog, msg_ids: Sequence[int]
    ) -> tuple[int | None, tuple[Citation, ...]]:
        for mid in reversed(msg_ids):
            msg = chats.message(mid)
            if msg.role == "assistant" and msg.answer_json:
                return mid, answer_from_json(msg.answer_json).citations
        return None, ()

    @friendly(outputs=5)
    def new_session(self, project: str | None) -> tuple[Any, ...]:
        with self._chatlog(project) as chats:
            session = chats.create_session()
        return self.load_chat(project, session.id)

    @friendly(outputs=2)
    def rename_session(
        self, project: str | None, session_id: int | None, title: str | None
    ) -> tuple[Any, Any]:
        """Outputs: session dropdown, the rename form (hidden)."""
        if session_id is None:
            raise TomesError("there is no chat to rename yet: ask a question first")
        with self._chatlog(project) as chats:
            chats.rename_session(int(session_id), title or "")
            choices = [(s.title, s.id) for s in chats.sessions()]
        return gr.update(choices=choices, value=session_id), gr.update(visible=False)

    @friendly(outputs=6)
    def delete_session(self, project: str | None, session_id: int | None) -> tuple[Any, ...]:
        """Outputs: those of `load_chat`, then the confirmation row (hidden)."""
        if session_id is not None:
            with self._chatlog(project) as chats:
                chats.delete_session(int(session_id))
        return (*self.load_chat(project), gr.update(visible=False))

    @friendly(outputs=2)
    def confirm_delete_session(
        self, project: str | None, session_id: int | None
    ) -> tuple[Any, Any]:
        if session_id is None:
            raise TomesError("there is no chat to delete")
        with self._chatlog(project) as chats:
            title = chats.session(int(session_id)).title
        return gr.update(visible=True), f"Delete the chat **{title}** and its messages?"

    @friendly(outputs=2)
    def select_message(
        self, project: str | None, msg_ids: list[int], evt: gr.SelectData
    ) -> tuple[Any, Any]:
        """A click on a chat message selects its answer (a question selects the answer after
        it). Outputs: selected answer id, chips."""
        index = evt.index if isinstance(evt.index, int) else int(evt.index[0])
        with self._chatlog(project) as chats:
            for mid in list(msg_ids)[index:]:
                msg = chats.message(mid)
                if msg.role == "assistant" and msg.answer_json:
                    return mid, chips_html(answer_from_json(msg.answer_json).citations)
        return gr.skip(), gr.skip()

    def ask(
        self,
        project: str | None,
        session_id: int | None,
        question: str | None,
        chat: list[dict[str, Any]] | None,
        msg_ids: list[int] | None,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream an answer into the chat, then save it and show its sources.
        Outputs: chatbot, question box, session dropdown, message ids, answer id, chips."""
        question = (question or "").strip()
        chat = list(chat or [])
        if not question:
            gr.Warning("Type a question first.")
            yield _skip(6)
            return
        try:
            proj = self._project(project)
            if session_id is None:
                with proj.open() as store:
                    session_id = ChatLog(store).create_session().id
        except Exception as exc:
            gr.Warning(user_message(exc))
            yield _skip(6)
            return
        chat.append({"role": "user", "content": question})
        chat.append({"role": "assistant", "content": "_Reading the documents…_"})
        waiting = chips_html([], empty="Sources appear when the answer is complete.")
        yield chat, "", gr.skip(), gr.skip(), None, waiting
        stream = None
        try:
            stream = self.ws.ask(proj, question, session_id=int(session_id))
            text = ""
            for piece in stream:
                text += piece
                # a new list each time: Gradio diffs each value against the one before
                chat = [*chat[:-1], {"role": "assistant", "content": text}]
                yield chat, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            answer = stream.result()
            self.ws.record(proj, int(session_id), answer)
        except Exception as exc:
            message = user_message(exc)
            gr.Warning(message)
            chat = [*chat[:-1], {"role": "assistant", "content": f"⚠ {message}"}]
            yield chat, question, gr.skip(), gr.skip(), None, chips_html([], empty=" ")
            return
        finally:
            if stream is not None:
                stream.close()  # frees the model if the user stopped the answer
        dropdown, messages, ids, answer_id, chips = self.load_chat(project, session_id)
        yield messages, gr.skip(), dropdown, ids, answer_id, chips

    @friendly(outputs=6)
    def pin_answer(self, project: str | None, answer_id: int | None) -> tuple[Any, ...]:
        """Pin the selected answer as a note. Outputs: those of `load_notes`."""
        if answer_id is None:
            raise TomesError("there is no answer to pin yet: ask a question first")
        with self._chatlog(project) as chats:
            note = chats.pin_answer(int(answer_id))
        gr.Info(f"Pinned to your notes: “{short(note.title, 60)}”", duration=6)
        return self.load_notes(project, note.id)

    # ------------------------------------------------------------------ source viewer
    def clear_viewer(self) -> tuple[Any, ...]:
        """Outputs: viewer state, header, page image, text, previous, next."""
        hidden = gr.update(visible=False)
        return None, "", gr.update(value=None, visible=False), VIEWER_EMPTY, hidden, hidden

    def _citation(self, project: str | None, answer_id: int | None, index: int) -> Citation:
        if answer_id is None:
            raise TomesError("choose an answer first, then one of its sources")
        with self._chatlog(project) as chats:
            msg = chats.message(int(answer_id))
        if not msg.answer_json:
            raise TomesError("this message has no sources")
        citations = answer_from_json(msg.answer_json).citations
        if not 0 <= index < len(citations):
            raise TomesError(f"this answer has no source number {index + 1}")
        return citations[index]

    def view_citation(self, project: str | None, cite: Citation) -> tuple[Any, ...]:
        """Open `cite` in the viewer. Outputs: those of `clear_viewer`."""
        return self._show(project, self._viewer_state(cite))

    @staticmethod
    def _viewer_state(cite: Citation) -> dict[str, Any]:
        """What the viewer needs to show a citation again (or another page of it)."""
        return {
            "doc_id": cite.doc_id or cite.locator.doc_id,
            "locator": {**locator_json(cite.locator), "doc_id": cite.locator.doc_id},
            "quote": cite.quote,
            "verified": cite.verified,
            "page": cite.locator.page,
        }

    def _view(self, project: str | None, state: dict[str, Any]) -> SourceView:
        locator: Locator = locator_from_json(state["locator"])
        with self._project(project).open() as store:
            return open_source(
                store, state["doc_id"], locator, quote=state["quote"], page=state.get("page")
            )

    def _show(self, project: str | None, state: dict[str, Any]) -> tuple[Any, ...]:
        view = self._view(project, state)
        state = {**state, "page": view.page}
        is_pdf = view.kind == "pdf" and view.page is not None
        pages = view.n_pages or 1
        image = png(view.image)
        return (
            state,
            viewer_head(view, state["quote"], bool(state.get("verified", True))),
            gr.update(value=image, visible=image is not None),
            source_html(view),
            gr.update(visible=is_pdf, interactive=is_pdf and (view.page or 1) > 1),
            gr.update(visible=is_pdf, interactive=is_pdf and (view.page or 1) < pages),
        )

    @friendly(outputs=6)
    def open_citation(
        self, project: str | None, answer_id: int | None, evt: gr.EventData
    ) -> tuple[Any, ...]:
        """A click on a citation chip (its index comes with the event)."""
        data = getattr(evt, "_data", None) or {}
        if "cite" not in data:
            return _skip(6)  # a click between the chips
        return self.view_citation(project, self._citation(project, answer_id, int(data["cite"])))

    @friendly(outputs=6)
    def open_citation_at(
        self, project: str | None, answer_id: int | None, index: int
    ) -> tuple[Any, ...]:
        return self.view_citation(project, self._citation(project, answer_id, int(index)))

    @friendly(outputs=6)
    def previous_page(self, project: str | None, state: dict[str, Any] | None) -> tuple[Any, ...]:
        return self._turn(project, state, -1)

    @friendly(outputs=6)
    def next_page(self, project: str | None, state: dict[str, Any] | None) -> tuple[Any, ...]:
        return self._turn(project, state, +1)

    def _turn(
        self, project: str | None, state: dict[str, Any] | None, step: int
    ) -> tuple[Any, ...]:
        if not state or not state.get("page"):
            return _skip(6)
        return self._show(project, {**state, "page": max(1, int(state["page"]) + step)})

    # ------------------------------------------------------------------ adding sources
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

    def add_sources(
        self, project: str | None, files: Sequence[str] | None, folder: str | None
    ) -> Iterator[tuple[Any, ...]]:
        """Add uploads and/or a local folder, streaming each file's status.
        Outputs: file table, progress line, upload box, folder box."""
        try:
            proj = self._project(project)
            paths, rows = self._sources(proj, files, folder)
        except Exception as exc:
            gr.Warning(user_message(exc))
            yield _skip(4)
            return
        yield file_table_html(list(rows.values())), "Starting…", gr.skip(), gr.skip()
        counts: dict[str, int] = {}
        events = self.ws.ingest(proj, paths)
        try:
            for event in events:
                rows.pop("\0folder", None)  # the "looking for files" row gives way to files
                rows[event.name] = (event.name, event.status, event_detail(event))
                if event.status != "reading":
                    counts[event.status] = counts.get(event.status, 0) + 1
                line = progress_line(event)
                yield file_table_html(list(rows.values())), line, gr.skip(), gr.skip()
        except Exception as exc:
            message = user_message(exc)
            gr.Warning(message)
            yield file_table_html(list(rows.values())), f"⚠ {message}", gr.skip(), gr.skip()
            return
        finally:
            events.close()  # after a Stop too: the engine then indexes what was added
        yield file_table_html(list(rows.values())), summary_line(counts), None, ""

    def _sources(
        self, proj: Project, files: Sequence[str] | None, folder: str | None
    ) -> tuple[list[Path], dict[str, tuple[str, str, str]]]:
        paths: list[Path] = []
        rows: dict[str, tuple[str, str, str]] = {}
        for f in files or []:
            kept = self._keep_file(proj, Path(f))
            paths.append(kept)
            rows[kept.name] = (kept.name, "queued", "")
        if folder and folder.strip():
            where = Path(folder.strip()).expanduser()
            if not where.is_absolute():
                raise TomesError(
                    f"type the folder's full path (e.g. /home/me/cases), not {folder.strip()!r}"
                )
            if not where.exists():
                raise TomesError(f"there is no file or folder at {where}")
            paths.append(where)
            rows["\0folder"] = (str(where), "scanning", "")
        if not paths:
            raise TomesError("choose files to upload, or type the path of a folder, first")
        return paths, rows

    # ------------------------------------------------------------------ documents and tree
    @friendly(outputs=6)
    def load_documents(self, project: str | None) -> tuple[Any, ...]:
        """Outputs: documents table, remove dropdown, tree start dropdown, node text, node
        children, tree path."""
        if not project:
            empty = gr.update(choices=[], value=None)
            return [], empty, empty, "", empty, []
        proj = self._project(project)
        with proj.open() as store:
            docs = store.documents()
            starts = self._tree_starts(store)
        if docs and not starts:
            status = self.ws.index_status(proj).tree
            text = (
                f"The summary tree is being built ({status.done} of {status.total} parts). It "
                "builds in the background; you can ask questions meanwhile."
                if status.total
                else "The summary tree has not been built yet."
            )
        elif docs:
            text = "Choose a document to read its summary, then open its parts."
        else:
            text = "Add documents to see their summaries here."
        return (
            documents_rows(docs),
            gr.update(choices=[(d.name, d.id) for d in docs], value=None),
            gr.update(choices=starts, value=None),
            text,
            gr.update(choices=[], value=None, visible=False),
            [],
        )

    @staticmethod
    def _tree_starts(store: ProjectStore) -> list[tuple[str, int]]:
        """Where the summary tree can be read from: the whole corpus, then each document."""
        tree = TreeReader(store)
        starts: list[tuple[str, int]] = []
        corpus = tree.corpus_root()
        if corpus is not None and not corpus.doc_id:
            starts.append(("All documents", corpus.id))
        names = {d.id: d.name for d in store.documents()}
        return starts + [(names.get(n.doc_id, "document"), n.id) for n in tree.roots()]

    @friendly(outputs=2)
    def confirm_remove_document(self, project: str | None, doc_id: str | None) -> tuple[Any, Any]:
        if not doc_id:
            raise TomesError("choose the document to remove first")
        with self._project(project).open() as store:
            name = store.document(doc_id).name
        return gr.update(visible=True), (
            f"Remove **{name}** from this project? Its passages, summaries and embeddings go; "
            "answers and notes that cite it keep their text. The file itself is not touched."
        )

    @friendly(outputs=7)
    def remove_document(self, project: str | None, doc_id: str | None) -> tuple[Any, ...]:
        """Outputs: those of `load_documents`, then the confirmation row (hidden)."""
        proj = self._project(project)
        if not doc_id:
            raise TomesError("choose the document to remove first")
        doc = self.ws.remove_document(proj, doc_id)
        kept = proj.folder / "files" / doc.name
        if doc.path and Path(doc.path) == kept:
            kept.unlink(missing_ok=True)
        gr.Info(f"Removed {doc.name}.", duration=6)
        return (*self.load_documents(project), gr.update(visible=False))

    def _node_view(self, project: str | None, path: list[int]) -> tuple[Any, ...]:
        """Outputs: node text, children radio, tree path."""
        if not path:
            return (
                "Choose a document to read its summary.",
                gr.update(choices=[], visible=False),
                [],
            )
        with self._project(project).open() as store:
            tree = TreeReader(store)
            node = tree.node(int(path[-1]))
            document = store.document(node.doc_id).name if node.doc_id else "All documents"
            children = tree.children(node)
        choices = [(node_label(c, i), c.id) for i, c in enumerate(children, start=1)]
        text = node_markdown(node, document)
        return text, gr.update(choices=choices, value=None, visible=bool(choices)), list(path)

    @friendly(outputs=3)
    def open_tree(self, project: str | None, node_id: int | None) -> tuple[Any, ...]:
        return self._node_view(project, [int(node_id)] if node_id is not None else [])

    @friendly(outputs=3)
    def open_child(
        self, project: str | None, path: list[int], node_id: int | None
    ) -> tuple[Any, ...]:
        if node_id is None:
            return _skip(3)
        return self._node_view(project, [*(path or []), int(node_id)])

    @friendly(outputs=3)
    def tree_up(self, project: str | None, path: list[int]) -> tuple[Any, ...]:
        return self._node_view(project, list(path or [])[:-1] or list(path or [])[:1])

    # ------------------------------------------------------------------ notes and export
    @friendly(outputs=6)
    def load_notes(self, project: str | None, note_id: int | None = None) -> tuple[Any, ...]:
        """Outputs: notes dropdown, note title, note text, note sources, export notes, export
        answers."""
        if not project:
            empty = gr.update(choices=[], value=None)
            return empty, "", "", chips_html([]), empty, empty
        with self._chatlog(project) as chats:
            notes = chats.notes()
            answers = [
                (short(answer_from_json(m.answer_json).question, 90), m.id)
                for s in chats.sessions()
                for m in chats.messages(s.id)
                if m.role == "assistant" and m.answer_json
            ]
        ids = [n.id for n in notes]
        if note_id not in ids:
            note_id = ids[-1] if ids else None
        current = next((n for n in notes if n.id == note_id), None)
        return (
            gr.update(choices=[(n.title, n.id) for n in notes], value=note_id),
            current.title if current else "",
            current.text if current else "",
            self._note_chips(current.citations_json if current else "[]"),
            gr.update(choices=[(n.title, n.id) for n in notes], value=ids),
            gr.update(choices=answers, value=[]),
        )

    @staticmethod
    def _note_citations(citations_json: str | None) -> tuple[Citation, ...]:
        return citations_from_json(json.loads(citations_json or "[]"))

    def _note_chips(self, citations_json: str) -> str:
        return chips_html(self._note_citations(citations_json), empty="This note has no sources.")

    @friendly(outputs=7)
    def open_note_citation(
        self, project: str | None, note_id: int | None, evt: gr.EventData
    ) -> tuple[Any, ...]:
        """A click on a note's source chip opens it in the viewer, on the Ask tab.
        Outputs: those of `clear_viewer`, then the tabs."""
        data = getattr(evt, "_data", None) or {}
        if note_id is None or "cite" not in data:
            return _skip(7)
        with self._chatlog(project) as chats:
            citations = self._note_citations(chats.note(int(note_id)).citations_json)
        index = int(data["cite"])
        if not 0 <= index < len(citations):
            raise TomesError(f"this note has no source number {index + 1}")
        return (*self.view_citation(project, citations[index]), gr.update(selected="ask"))

    @friendly(outputs=3)
    def select_note(self, project: str | None, note_id: int | None) -> tuple[Any, ...]:
        """Outputs: note title, note text, note sources."""
        if note_id is None:
            return "", "", chips_html([], empty="This note has no sources.")
        with self._chatlog(project) as chats:
            note = chats.note(int(note_id))
        return note.title, note.text, self._note_chips(note.citations_json)

    @friendly(outputs=6)
    def save_note(
        self, project: str | None, note_id: int | None, title: str | None, text: str | None
    ) -> tuple[Any, ...]:
        if note_id is None:
            raise TomesError("choose a note first, or pin an answer as a note")
        with self._chatlog(project) as chats:
            chats.update_note(int(note_id), title=title or "", text=text or "")
        gr.Info("Note saved.", duration=6)
        return self.load_notes(project, int(note_id))

    @friendly(outputs=6)
    def new_note(self, project: str | None) -> tuple[Any, ...]:
        with self._chatlog(project) as chats:
            note = chats.add_note("New note", "")
        return self.load_notes(project, note.id)

    @friendly(outputs=6)
    def delete_note(self, project: str | None, note_id: int | None) -> tuple[Any, ...]:
        if note_id is None:
            raise TomesError("choose the note to delete first")
        with self._chatlog(project) as chats:
            chats.delete_note(int(note_id))
        gr.Info("Note deleted.", duration=6)
        return self.load_notes(project)

    @friendly(outputs=2)
    def export_report(
        self,
        project: str | None,
        note_ids: list[int] | None,
        answer_ids: list[int] | None,
        fmt: str | None,
    ) -> tuple[Any, Any]:
        """Write the report. Outputs: download file, status line."""
        proj = self._project(project)
        fmt = fmt if fmt in ("docx", "md") else "docx"
        with proj.open() as store:
            items = collect(
                ChatLog(store),
                message_ids=[int(i) for i in answer_ids or []],
                note_ids=[int(i) for i in note_ids or []],
            )
        stamp = datetime.now().strftime("%Y-%m-%d-%H%M%S")
        target = self.exports_dir / f"{_safe_filename(proj.name)}-report-{stamp}.{fmt}"
        written = write_report(proj.name, items, target, fmt)
        kind = "Word document" if fmt == "docx" else "Markdown file"
        return (
            gr.update(value=str(written), visible=True),
            f"Exported {len(items)} section{'s' if len(items) != 1 else ''} as a {kind}: "
            "download it below.",
        )

    # ------------------------------------------------------------------ settings
    _SETTING_KEYS = (
        "model.backend",
        "model.path",
        "model.base_url",
        "model.api_model",
        "retrieval.budget",
        "model.threads",
        "model.n_ctx",
    )

    @friendly(outputs=8)
    def load_settings(self, project: str | None) -> tuple[Any, ...]:
        """Outputs: backend, model file, server URL, server model, budget, threads, context
        window, message."""
        if not project:
            return (*_skip(7), "")
        values = self.ws.settings_for(self._project(project)).to_dict()
        return (*(values[k] for k in self._SETTING_KEYS), "")

    @friendly(outputs=8)
    def save_settings(
        self,
        project: str | None,
        backend: str | None,
        path: str | None,
        base_url: str | None,
        api_model: str | None,
        budget: float | None,
        threads: float | None,
        n_ctx: float | None,
    ) -> tuple[Any, ...]:
        """Validate and save the project's model settings. Outputs: those of `load_settings`."""
        proj = self._project(project)
        raw = (backend, path, base_url, api_model, budget, threads, n_ctx)
        values = {
            key: (value.strip() or None) if isinstance(value, str) else value
            for key, value in zip(self._SETTING_KEYS, raw, strict=True)
        }
        try:
            self.ws.save_project_settings(proj, values)
        except TomesError as exc:
            return (*_skip(7), f"⚠ Not saved: {sentence(str(exc))}")
        message = "✓ Saved. The next answer uses these settings."
        model_path = values["model.path"]
        if model_path and not Path(str(model_path)).expanduser().is_file():
            message += f" Note: there is no file at {model_path} yet."
        return (*self.load_settings(project)[:7], message)

    @friendly(outputs=8)
    def reset_settings(self, project: str | None) -> tuple[Any, ...]:
        proj = self._project(project)
        self.ws.save_project_settings(proj, dict.fromkeys(self._SETTING_KEYS))
        return (*self.load_settings(project)[:7], "✓ Back to the default settings.")

    # ------------------------------------------------------------------ API (gradio_client)
    @api_errors
    def api_create_project(self, name: str) -> str:
        """Create a project (or open it if it exists); returns its name."""
        return self.ws.project(name, create=True).name

    @api_errors
    def api_add_files(self, project: str, files: list[FileData]) -> list[dict[str, Any]]:
        """Upload files into a project; returns one status per file (name, status, reason,
        pages, passages)."""
        from gradio.utils import get_upload_folder, is_in_or_equal

        proj = self.ws.project(project)
        paths = []
        for f in files:
            path = f["path"] if isinstance(f, dict) else f.path
            if not is_in_or_equal(path, get_upload_folder()):
                raise TomesError("only files uploaded through this API can be added")
            paths.append(self._keep_file(proj, Path(path)))
        return [
            {
                "name": e.name,
                "status": e.status,
                "reason": e.reason,
                "pages": e.n_pages,
                "passages": e.n_chunks,
            }
            for e in self.ws.ingest(proj, paths)
            if e.status != "reading"
        ]

    @api_errors
    def api_ask(self, project: str, question: str, session_id: int | None = None) -> dict[str, Any]:
        """Ask a question; returns the answer as in `tomes ask --json`, plus the chat session
        and message ids (pass session_id again to ask a follow-up)."""
        proj = self.ws.project(project)
        if session_id is None:
            with proj.open() as store:
                session_id = ChatLog(store).create_session().id
        stream = self.ws.ask(proj, question, session_id=int(session_id))
        try:
            answer = stream.result()
        finally:
            stream.close()
        _, message_id = self.ws.record(proj, int(session_id), answer)
        return {**answer.to_json(), "session_id": session_id, "message_id": message_id}

    @api_errors
    def api_open_citation(self, project: str, message_id: int, index: int) -> dict[str, Any]:
        """Open source `index` (from 0) of an answer; returns what the viewer shows."""
        cite = self._citation(project, message_id, index)
        view = self._view(project, self._viewer_state(cite))
        return {
            "document": view.document,
            "title": view.title,
            "page": view.page,
            "n_pages": view.n_pages,
            "text": view.text,
            "highlights": [list(h) for h in view.highlights],
            "marked": [view.text[a:b] for a, b in view.highlights],
            "has_image": view.image is not None,
        }
