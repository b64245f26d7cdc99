"""Answers that could not be saved yet: kept on disk, saved as soon as the database is free.

A finished answer is the most expensive thing Tomes makes (minutes of model time on a CPU).
When the project's database stays locked by another process (a long ingest in another
terminal), `record_or_keep` does not throw it away behind "database is locked": it writes the
exchange to `<project>/pending/` (0600, atomically) and raises `AnswerPending`, which says so.
`flush` saves kept answers in order; the Workspace calls it again in the background until
they are saved, and on the next record or open of the project's chats.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Final

from engine.errors import AnswerPending, ProjectBusy, StoreBusy, StoreError
from engine.store import locks
from engine.store.chats import ChatLog, answer_from_json, answer_to_json
from engine.store.db import ProjectStore
from engine.store.private import private_dir
from engine.types import Answer

__all__ = ["PENDING_DIR", "flush", "flush_project", "has_pending", "keep", "record_or_keep"]

log = logging.getLogger(__name__)

PENDING_DIR: Final = "pending"


def _folder(project_folder: Path) -> Path:
    return Path(project_folder) / PENDING_DIR


def has_pending(project_folder: Path) -> bool:
    folder = _folder(project_folder)
    return folder.is_dir() and any(folder.glob("*.json"))


def keep(project_folder: Path, session_id: int, answer: Answer) -> Path:
    """Write one exchange to the pending folder (atomically, 0600); returns its path."""
    folder = private_dir(_folder(project_folder))
    stamp = f"{time.time_ns():020d}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".keep.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {"session_id": session_id, "question": answer.question,
                 "answer_json": answer_to_json(answer)},
                fh,
            )  # fmt: skip
        target = folder / f"{stamp}-{session_id}.json"
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def flush(store: ProjectStore) -> int:
    """Save every kept exchange of the store's project, oldest first; returns how many.
    Stops at the first one the database refuses (busy), leaving it and the rest kept."""
    folder = _folder(store.path.parent)
    if not folder.is_dir():
        return 0
    try:
        # One flusher at a time, across threads and processes: two would save an answer twice.
        with locks.exclusive(folder, wait=0.0, what="kept answers are being saved"):
            return _flush(store, folder)
    except ProjectBusy:
        return 0  # another flusher is at it


def _flush(store: ProjectStore, folder: Path) -> int:
    saved = 0
    chats = ChatLog(store)
    for path in sorted(folder.glob("*.json")):
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            answer = answer_from_json(kept["answer_json"])
        except (OSError, ValueError, KeyError) as exc:
            log.error("a kept answer in %s cannot be read (%s); it is left there", path, exc)
            path.rename(path.with_suffix(".unreadable"))
            continue
        session_id = int(kept["session_id"])
        try:
            chats.session(session_id)
        except StoreError:  # the chat was deleted meanwhile: a new one holds the answer
            session_id = chats.create_session("Recovered answer").id
        chats.add_exchange(session_id, kept["question"], answer)
        path.unlink(missing_ok=True)
        saved += 1
    return saved


def flush_project(db_path: Path, *, wait_s: float) -> int:
    """Open the project at `db_path` and save its kept answers (see `flush`)."""
    with ProjectStore(db_path, create=False) as store:
        store.set_busy_timeout(wait_s)
        return flush(store)


def _is_busy(exc: BaseException) -> bool:
    if isinstance(exc, StoreBusy):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def record_or_keep(
    project_folder: Path, db_path: Path, session_id: int, answer: Answer, *, wait_s: float
) -> tuple[int, int]:
    """Save an exchange, waiting at most `wait_s` seconds for a busy database; when it stays
    busy, keep it on disk and raise AnswerPending (the message says it is kept)."""
    try:
        with ProjectStore(db_path, create=False) as store:
            store.set_busy_timeout(wait_s)
            flush(store)
            return ChatLog(store).add_exchange(session_id, answer.question, answer)
    except (sqlite3.OperationalError, StoreBusy) as exc:
        if not _is_busy(exc):
            raise
    path = keep(project_folder, session_id, answer)
    raise AnswerPending(
        "the answer could not be saved to the chat yet: another Tomes process is writing to "
        "this project. It is kept and will be saved as soon as the project is free",
        path=str(path),
    )
