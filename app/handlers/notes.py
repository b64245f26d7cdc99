"""Notes handlers: the notes list, pinning an answer as a note, editing and deleting notes,
and exporting a report of chosen notes and answers."""

import re
from datetime import datetime
from typing import Literal

import gradio as gr

from app.handlers.base import HandlerBase, Outputs, Update
from app.views import chips_html, short
from engine import ChatLog, Note, TomesError

__all__ = ["NotesHandlers"]

_DELETE_NOTE = "deleting the note"


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:60] or "report"


def _note_chips(note: Note | None) -> str:
    citations = ChatLog.note_citations(note) if note is not None else ()
    return chips_html(citations, empty="This note has no sources.")


class NotesHandlers(HandlerBase):
    def load_notes(self, project: str | None, note_id: int | None = None) -> Outputs:
        """Outputs: notes dropdown, note title, note text, note sources, export notes, export
        answers."""
        if not project:
            empty = gr.update(choices=[], value=None)
            return empty, "", "", chips_html([]), empty, empty
        with self._chatlog(project) as chats:
            notes = chats.notes()
            answers = [
                (short(answer.question, 90), m.id)
                for s in chats.sessions()
                for m in chats.messages(s.id)
                if (answer := ChatLog.answer_of(m)) is not None
            ]
        ids = [n.id for n in notes]
        if note_id not in ids:
            note_id = ids[-1] if ids else None
        current = next((n for n in notes if n.id == note_id), None)
        return (
            gr.update(choices=[(n.title, n.id) for n in notes], value=note_id),
            current.title if current else "",
            current.text if current else "",
            _note_chips(current),
            gr.update(choices=[(n.title, n.id) for n in notes], value=ids),
            gr.update(choices=answers, value=[]),
        )

    def pin_answer(self, project: str | None, answer_id: int | None) -> Outputs:
        """Pin the selected answer as a note. Outputs: those of `load_notes`."""
        if answer_id is None:
            raise TomesError("there is no answer to pin yet: ask a question first")
        with self._chatlog(project) as chats:
            note = chats.pin_answer(int(answer_id))
        gr.Info(f"Pinned to your notes: “{short(note.title, 60)}”", duration=6)
        return self.load_notes(project, note.id)

    def select_note(self, project: str | None, note_id: int | None) -> Outputs:
        """Outputs: note title, note text, note sources."""
        if note_id is None:
            return "", "", _note_chips(None)
        with self._chatlog(project) as chats:
            note = chats.note(int(note_id))
        return note.title, note.text, _note_chips(note)

    def save_note(
        self, project: str | None, note_id: int | None, title: str | None, text: str | None
    ) -> Outputs:
        if note_id is None:
            raise TomesError("choose a note first, or pin an answer as a note")
        with self._chatlog(project) as chats:
            chats.update_note(int(note_id), title=title or "", text=text or "")
        gr.Info("Note saved.", duration=6)
        return self.load_notes(project, int(note_id))

    def new_note(self, project: str | None) -> Outputs:
        with self._chatlog(project) as chats:
            note = chats.add_note("New note", "")
        return self.load_notes(project, note.id)

    def confirm_delete_note(
        self, project: str | None, note_id: int | None
    ) -> tuple[Update, object, str]:
        """Outputs: the confirmation row, its question, the nonce for the second click."""
        if note_id is None:
            raise TomesError("choose the note to delete first")
        with self._chatlog(project) as chats:
            title = chats.note(int(note_id)).title
        nonce = self.confirmations.issue(_DELETE_NOTE, f"{project}/{note_id}")
        return gr.update(visible=True), f"Delete the note **{title}**?", nonce

    def delete_note(
        self, project: str | None, note_id: int | None, nonce: str | None = None
    ) -> Outputs:
        """Outputs: those of `load_notes`, then the confirmation row (hidden)."""
        if note_id is None:
            raise TomesError("choose the note to delete first")
        self.confirmations.check(_DELETE_NOTE, f"{project}/{note_id}", nonce)
        with self._chatlog(project) as chats:
            chats.delete_note(int(note_id))
        gr.Info("Note deleted.", duration=6)
        return (*self.load_notes(project), gr.update(visible=False))

    def export_report(
        self,
        project: str | None,
        note_ids: list[int] | None,
        answer_ids: list[int] | None,
        fmt: str | None,
        request: gr.Request = None,  # type: ignore[assignment]  # Gradio fills it in
    ) -> tuple[Update, object]:
        """Write the report. Outputs: download file, status line. The file goes to this
        session's own exports folder: the server serves it to this session only."""
        proj = self._project(project)
        kind: Literal["docx", "md"] = "md" if fmt == "md" else "docx"
        stamp = datetime.now().strftime("%Y-%m-%d-%H%M%S")
        target = self._exports_for(request) / f"{_safe_filename(proj.name)}-report-{stamp}.{kind}"
        written, sections = self.ws.export_report(
            proj,
            target,
            fmt=kind,
            message_ids=[int(i) for i in answer_ids or []],
            note_ids=[int(i) for i in note_ids or []],
        )
        what = "Word document" if kind == "docx" else "Markdown file"
        return (
            gr.update(value=str(written), visible=True),
            f"Exported {sections} section{'s' if sections != 1 else ''} as a {what}: "
            "download it below.",
        )
