"""Chat sessions, their messages and notes, saved in the project database.

Every answer is stored whole (text, citations, context, timings) as JSON next to the message, so
a chat reopened after a restart or an upgrade shows exactly what was answered and cited.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from engine.errors import StoreError
from engine.store.db import ProjectStore
from engine.types import (
    Answer,
    AnswerState,
    Citation,
    ContextItem,
    DocumentAnswer,
    Message,
    Note,
    Session,
    Timings,
    Usage,
    locator_from_json,
)

__all__ = [
    "ChatLog",
    "answer_from_json",
    "answer_to_json",
    "citations_from_json",
    "readable_title",
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def answer_to_json(answer: Answer) -> str:
    """Everything needed to show the answer again and to continue its thread."""
    data = answer.to_json()
    data["raw_text"] = answer.raw_text
    data["new_keys"] = list(answer.new_keys)
    data["followup"] = answer.followup
    data["turn"] = answer.turn
    for c, cite in zip(data["citations"], answer.citations, strict=True):
        c["doc_id"] = cite.doc_id
    for c, item in zip(data["context"], answer.context, strict=True):
        c["doc_id"] = item.doc_id
        c["n_tokens"] = item.n_tokens
    for d, part in zip(data.get("documents", []), answer.documents, strict=True):
        for c, cite in zip(d["citations"], part.citations, strict=True):
            c["doc_id"] = cite.doc_id
    return json.dumps(data, ensure_ascii=False)


def citations_from_json(items: list[dict[str, Any]]) -> tuple[Citation, ...]:
    """Citations as saved in an answer or a note (`Citation.to_json` shapes)."""
    return tuple(
        Citation(
            key=c["key"],
            chunk_id=c["chunk_id"],
            document=c["document"],
            locator=locator_from_json(c),
            quote=c.get("quote", ""),
            verified=bool(c.get("verified", True)),
            doc_id=c.get("doc_id", ""),
            origin=c.get("origin", "model"),
        )
        for c in items
    )


def answer_from_json(text: str) -> Answer:
    data = json.loads(text)
    citations = citations_from_json(data.get("citations", []))
    context = tuple(
        ContextItem(
            key=c["key"],
            chunk_id=c["chunk_id"],
            document=c["document"],
            locator=locator_from_json(c),
            text=c.get("text", ""),
            n_tokens=int(c.get("n_tokens", 0)),
            level=int(c.get("level", 0)),
            score=float(c.get("score", 0.0)),
            doc_id=c.get("doc_id", ""),
        )
        for c in data.get("context", [])
    )
    usage = data.get("usage") or {}
    timings = data.get("timings") or {}
    return Answer(
        question=data.get("question", ""),
        text=data.get("answer", ""),
        citations=citations,
        context=context,
        usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        timings=Timings(
            float(timings.get("retrieve_s", 0.0)),
            timings.get("first_token_s"),
            float(timings.get("total_s", 0.0)),
        ),
        supported=bool(data.get("supported", True)),
        notices=tuple(data.get("notices", ())),
        model=data.get("model", ""),
        raw_text=data.get("raw_text", ""),
        new_keys=tuple(data.get("new_keys", ())),
        followup=bool(data.get("followup", False)),
        # answers saved before evidence-first answering have no state: they were answered
        state=AnswerState(data.get("state", AnswerState.FOUND.value)),
        scope=tuple(data.get("scope", ())),
        documents=tuple(
            DocumentAnswer(
                doc_id=d.get("doc_id", ""),
                document=d.get("document", ""),
                state=AnswerState(d.get("state", AnswerState.FOUND.value)),
                text=d.get("answer", ""),
                citations=citations_from_json(d.get("citations", [])),
            )
            for d in data.get("documents", [])
        ),
        removed=tuple(data.get("removed", ())),
        turn=data.get("turn", ""),
    )


def readable_title(text: str, limit: int) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters ("…" when
    cut), for chat and note names."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-") + "…"


def _session(row: Sequence[Any]) -> Session:
    sid, title, created, updated, scope = row
    try:
        doc_ids = tuple(str(d) for d in json.loads(scope or "[]"))
    except ValueError:
        doc_ids = ()
    return Session(int(sid), str(title), str(created), str(updated), doc_ids)


class ChatLog:
    """Sessions, messages and notes of one project."""

    def __init__(self, store: ProjectStore) -> None:
        self.store = store
        self.db = store.db

    # ------------------------------------------------------------------ sessions
    def sessions(self) -> list[Session]:
        rows = self.db.execute(
            "SELECT id, title, created_at, updated_at, scope FROM sessions "
            "ORDER BY updated_at DESC, id DESC"
        ).fetchall()
        return [_session(r) for r in rows]

    def session(self, session_id: int) -> Session:
        row = self.db.execute(
            "SELECT id, title, created_at, updated_at, scope FROM sessions WHERE id = ?",
            [session_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"no chat session {session_id} in this project")
        return _session(row)

    def set_scope(self, session_id: int, doc_ids: Sequence[str]) -> Session:
        """Which documents the chat asks about (empty: all of the project's)."""
        self.session(session_id)
        with self.store.transaction():
            self.db.execute(
                "UPDATE sessions SET scope = ? WHERE id = ?",
                [json.dumps(list(dict.fromkeys(doc_ids))), session_id],
            )
        return self.session(session_id)

    def create_session(self, title: str = "New chat") -> Session:
        now = _now()
        with self.store.transaction():
            cur = self.db.execute(
                "INSERT INTO sessions (title, created_at, updated_at) VALUES (?, ?, ?)",
                [title.strip() or "New chat", now, now],
            )
        return self.session(int(cur.lastrowid or 0))

    def rename_session(self, session_id: int, title: str) -> Session:
        with self.store.transaction():
            self.db.execute(
                "UPDATE sessions SET title = ?, updated_at = ? WHERE id = ?",
                [title.strip() or "Chat", _now(), session_id],
            )
        return self.session(session_id)

    def delete_session(self, session_id: int) -> None:
        with self.store.transaction():
            self.db.execute("DELETE FROM messages WHERE session_id = ?", [session_id])
            self.db.execute("DELETE FROM sessions WHERE id = ?", [session_id])

    # ------------------------------------------------------------------ messages
    def messages(self, session_id: int) -> list[Message]:
        rows = self.db.execute(
            "SELECT id, session_id, role, text, created_at, answer_json FROM messages "
            "WHERE session_id = ? ORDER BY id",
            [session_id],
        ).fetchall()
        return [Message(*r) for r in rows]

    def message(self, message_id: int) -> Message:
        row = self.db.execute(
            "SELECT id, session_id, role, text, created_at, answer_json FROM messages WHERE id = ?",
            [message_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"no message {message_id} in this project")
        return Message(*row)

    def add_exchange(self, session_id: int, question: str, answer: Answer) -> tuple[int, int]:
        """Save a question and its answer together (one transaction); returns their ids.
        The first question of an untitled session becomes its title."""
        self.session(session_id)
        now = _now()
        with self.store.transaction():
            q = self.db.execute(
                "INSERT INTO messages (session_id, role, text, created_at) "
                "VALUES (?, 'user', ?, ?)",
                [session_id, question, now],
            )
            a = self.db.execute(
                "INSERT INTO messages (session_id, role, text, answer_json, created_at) "
                "VALUES (?, 'assistant', ?, ?, ?)",
                [session_id, answer.text, answer_to_json(answer), now],
            )
            self.db.execute(
                "UPDATE sessions SET updated_at = ?, title = CASE WHEN title = 'New chat' "
                "THEN ? ELSE title END WHERE id = ?",
                [now, readable_title(question, 60), session_id],
            )
        return int(q.lastrowid or 0), int(a.lastrowid or 0)

    def answers(self, session_id: int) -> list[Answer]:
        """The session's answers, oldest first (the history for follow-ups)."""
        return [a for m in self.messages(session_id) if (a := self.answer_of(m)) is not None]

    # ------------------------------------------------------------------ notes
    def notes(self) -> list[Note]:
        rows = self.db.execute(
            "SELECT id, title, text, created_at, updated_at, message_id, citations_json "
            "FROM notes ORDER BY id"
        ).fetchall()
        return [Note(*r) for r in rows]

    def note(self, note_id: int) -> Note:
        row = self.db.execute(
            "SELECT id, title, text, created_at, updated_at, message_id, citations_json "
            "FROM notes WHERE id = ?",
            [note_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"no note {note_id} in this project")
        return Note(*row)

    @staticmethod
    def note_citations(note: Note) -> tuple[Citation, ...]:
        """The citations saved with a note (those of the answer it pins, if any)."""
        return citations_from_json(json.loads(note.citations_json or "[]"))

    @staticmethod
    def answer_of(message: Message) -> Answer | None:
        """The whole saved `Answer` of an assistant message; None for a question."""
        if message.role != "assistant" or not message.answer_json:
            return None
        return answer_from_json(message.answer_json)

    def add_note(self, title: str, text: str, *, message_id: int | None = None) -> Note:
        """A free note, or (with `message_id`) an answer pinned as a note with its citations."""
        citations = "[]"
        if message_id is not None:
            msg = self.message(message_id)
            if msg.answer_json:
                citations = json.dumps(json.loads(msg.answer_json).get("citations", []))
        now = _now()
        with self.store.transaction():
            cur = self.db.execute(
                "INSERT INTO notes (title, text, message_id, citations_json, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                [title.strip() or "Note", text, message_id, citations, now, now],
            )
        return self.note(int(cur.lastrowid or 0))

    def pin_answer(self, message_id: int) -> Note:
        msg = self.message(message_id)
        if msg.role != "assistant":
            raise StoreError("only answers can be pinned as notes")
        question = self.db.execute(
            "SELECT text FROM messages WHERE session_id = ? AND id < ? AND role = 'user' "
            "ORDER BY id DESC LIMIT 1",
            [msg.session_id, message_id],
        ).fetchone()
        title = readable_title(question[0], 80) if question else "Pinned answer"
        return self.add_note(title, msg.text, message_id=message_id)

    def update_note(
        self, note_id: int, *, title: str | None = None, text: str | None = None
    ) -> Note:
        note = self.note(note_id)
        with self.store.transaction():
            self.db.execute(
                "UPDATE notes SET title = ?, text = ?, updated_at = ? WHERE id = ?",
                [
                    note.title if title is None else title.strip() or note.title,
                    note.text if text is None else text,
                    _now(),
                    note_id,
                ],
            )
        return self.note(note_id)

    def delete_note(self, note_id: int) -> None:
        with self.store.transaction():
            self.db.execute("DELETE FROM notes WHERE id = ?", [note_id])
