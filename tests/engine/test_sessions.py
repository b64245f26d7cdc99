"""Chats and notes persist in the project database, answers whole."""

from __future__ import annotations

from pathlib import Path

from engine.store import ProjectStore
from engine.store.chats import ChatLog
from tests.support.answers import sample_answer


def test_sessions_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with ProjectStore(path) as store:
        log = ChatLog(store)
        s = log.create_session()
        log.add_exchange(s.id, "What is the term?", sample_answer())
        log.create_session("Second chat")
    with ProjectStore(path) as store:
        log = ChatLog(store)
        titles = sorted(x.title for x in log.sessions())
        assert titles == ["Second chat", "What is the term?"]
        first = next(x for x in log.sessions() if x.title == "What is the term?")
        msgs = log.messages(first.id)
        assert [m.role for m in msgs] == ["user", "assistant"]
        (answer,) = log.answers(first.id)
        assert answer == sample_answer()  # round-trips exactly, citations and context included


def test_pin_and_edit_note(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        log = ChatLog(store)
        s = log.create_session()
        _, aid = log.add_exchange(s.id, "What is the term?", sample_answer())
        note = log.pin_answer(aid)
        assert note.title == "What is the term?" and "five years" in note.text
        assert '"page": 4' in note.citations_json
        edited = log.update_note(note.id, text="Five years, renewable.")
        assert edited.text == "Five years, renewable." and edited.title == note.title
        log.delete_note(note.id)
        assert log.notes() == []


def test_delete_session_removes_messages(tmp_path: Path) -> None:
    with ProjectStore(tmp_path / "p.db") as store:
        log = ChatLog(store)
        s = log.create_session()
        log.add_exchange(s.id, "q", sample_answer())
        log.delete_session(s.id)
        assert log.sessions() == []
        assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
