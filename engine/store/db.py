"""One project's SQLite database: the connection, its pragmas, migrations, transactions and
the `meta` table. What lives in the tables is read and written by the sibling modules
(`documents`, `nodes`, `vectors`, `chats`); `ProjectStore` also offers the common document
calls as methods.

A `ProjectStore` belongs to one thread (sqlite3 connections must not be shared); opening one is
cheap, so open one per thread or per request. The database runs in WAL mode: readers never wait
for the writer, and a crash mid-write leaves the last committed state intact.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from engine.errors import ProjectGone, SchemaTooNew, store_error
from engine.store import documents as _documents
from engine.store import locks
from engine.store.documents import AddOutcome
from engine.store.migrations import MIGRATIONS, migration_names
from engine.store.private import private_dir, private_file, touch_private
from engine.types import DocumentInfo, StoredChunk
from ingest.types import Block, Chunk, Document

__all__ = ["ProjectStore"]


class ProjectStore:
    """Read and write one project database. Use as a context manager or call `close()`.

    A store may be handed between threads but must be used by one thread at a time.
    """

    def __init__(self, path: Path, *, create: bool = True, backup: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise ProjectGone(
                f"the project at {self.path.parent} no longer exists (it was deleted)"
            )
        private_dir(self.path.parent)
        # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
        # database file's mode, so they are private too.
        touch_private(self.path)
        for suffix in ("-wal", "-shm"):
            private_file(self.path.with_name(self.path.name + suffix))
        try:
            # check_same_thread=False: a streaming UI handler may resume on another worker
            # thread; a store is still used by one flow at a time (see the class docstring).
            conn = sqlite3.connect(str(self.path), timeout=120.0, check_same_thread=False)
        except sqlite3.Error as exc:
            raise store_error(exc, where=f"the project database {self.path}") from exc
        self.db = Database(conn, execute_plugins=False)
        self._inode = self._file_id()
        try:
            # WAL: readers don't block the writer, and a killed process loses only the open
            # transaction. synchronous=NORMAL is durable across process crashes in WAL mode.
            with self.db.ensure_autocommit_on():
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=120000")
            self.db.execute("PRAGMA foreign_keys=OFF")
            self._migrate(backup=backup)
        except sqlite3.Error as exc:
            conn.close()
            raise store_error(exc, where=f"the project database {self.path}") from exc
        except BaseException:
            conn.close()
            raise

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another connection's lock before failing."""
        self.db.execute(f"PRAGMA busy_timeout={max(0, int(seconds * 1000))}")

    def _file_id(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def check_present(self) -> None:
        """Raise ProjectGone when the database file was deleted (or replaced) since it was
        opened: writing on would succeed into a file nobody can see any more."""
        if self._file_id() != self._inode:
            raise ProjectGone(
                f"the project at {self.path.parent} was deleted while Tomes was writing to it; "
                "what was being added is not stored"
            )

    # ------------------------------------------------------------------ lifecycle
    def _migrate(self, *, backup: bool) -> None:
        known = set(migration_names())
        applied = MIGRATIONS.applied(self.db)
        unknown = [m.name for m in applied if m.name not in known]
        if unknown:
            raise SchemaTooNew(
                f"{self.path} was saved by a newer version of Tomes (schema step {unknown[-1]}); "
                "upgrade Tomes to open it. Nothing was changed."
            )
        if not MIGRATIONS.pending(self.db):
            return
        # Two processes opening a project after an upgrade must not both apply a step
        # ("table nodes already exists"): one migrates, the other waits and finds it done.
        with locks.migrating(self.path):
            pending = MIGRATIONS.pending(self.db)
            if not pending:
                return
            if applied and backup:
                self._backup(f"before-{pending[0].name}")
            MIGRATIONS.apply(self.db)

    def _backup(self, label: str) -> Path:
        """Copy the database (consistently, via SQLite's backup API) before changing its schema."""
        folder = private_dir(self.path.parent / "backups")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = touch_private(folder / f"{self.path.stem}-{stamp}-{label}.db")
        dest = sqlite3.connect(str(target))
        try:
            self.db.conn.backup(dest)
        finally:
            dest.close()
        return target

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One atomic write (nested calls become savepoints).

        BEGIN IMMEDIATE takes the write lock up front, waiting (busy timeout) while another
        connection writes. A deferred BEGIN would read first and fail at once with "database
        is locked" when its first write finds that another connection committed in between:
        WAL's SQLITE_BUSY_SNAPSHOT, which the busy handler never retries
        (https://www.sqlite.org/rescode.html#busy_snapshot; the usual fix is BEGIN IMMEDIATE,
        https://simonwillison.net/2025/Feb/17/sqlite-busy/). Seen when a chat was saved
        during an ingest.
        """
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic() as db:  # a savepoint inside the open transaction
                yield db
            return
        self.check_present()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[Database]:
        """A read-only transaction: several queries see one consistent state, without
        taking the write lock."""
        with self.db.atomic() as db:
            yield db

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    # ------------------------------------------------------------------ project settings
    def project_settings(self) -> dict[str, Any]:
        """The project's saved settings overrides (dotted key → value)."""
        rows = self.db.execute("SELECT key, value FROM project_settings")
        return {k: json.loads(v) for k, v in rows}

    def save_project_settings(self, values: Mapping[str, Any]) -> None:
        """Store overrides (a None value removes the override), in one transaction."""
        with self.transaction():
            for key, value in values.items():
                if value is None:
                    self.db.execute("DELETE FROM project_settings WHERE key = ?", [key])
                else:
                    self.db.execute(
                        "INSERT INTO project_settings(key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        [key, json.dumps(value)],
                    )

    # ------------------------------------------------------------------ documents
    def document_by_hash(self, doc_id: str) -> DocumentInfo | None:
        return _documents.document_by_hash(self, doc_id)

    def documents(self) -> list[DocumentInfo]:
        return _documents.documents(self)

    def document(self, doc_id: str) -> DocumentInfo:
        return _documents.document(self, doc_id)

    def add_document(
        self,
        document: Document,
        chunk_stream: Iterable[tuple[Chunk, str]],
        blocks_seen: list[Block],
    ) -> AddOutcome:
        """Write one document with its blocks and chunks (see `documents.add_document`)."""
        return _documents.add_document(self, document, chunk_stream, blocks_seen)

    def remove_document(self, doc_id: str) -> None:
        _documents.remove_document(self, doc_id)

    def chunk(self, chunk_id: str) -> StoredChunk:
        return _documents.chunk(self, chunk_id)

    def chunks(self, chunk_ids: Iterable[str]) -> list[StoredChunk]:
        return _documents.chunks(self, chunk_ids)

    def doc_chunks(
        self, doc_id: str, start: int = 0, end: int | None = None, *, limit: int | None = None
    ) -> list[StoredChunk]:
        """A document's chunks with ordinals in [start, end] (inclusive), in order, at most
        `limit` (ordinals may be sparse: see `documents.doc_chunks`)."""
        return _documents.doc_chunks(self, doc_id, start, end, limit=limit)

    def count_chunks(self) -> int:
        return _documents.count_chunks(self)

    def search(
        self, query: str, *, limit: int = 20, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[StoredChunk, float]]:
        """FTS5 BM25 keyword search over chunk text (see `documents.search`)."""
        return _documents.search(self, query, limit=limit, doc_ids=doc_ids)

    def blocks(self, doc_id: str, *, page: int | None = None) -> list[tuple[Block, int]]:
        """A document's blocks (optionally one page) with their ordinals, in order."""
        return _documents.blocks(self, doc_id, page=page)

    def stats(self) -> dict[str, int]:
        return _documents.stats(self)

    # ------------------------------------------------------------------ maintenance
    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
