"""Writing prepared documents: many small ones per short transaction, a big one in parts.

Nothing is read, parsed or chunked here: `ingest.prepare` did that outside any transaction,
so a write transaction only inserts rows and commits (issue 12: parsing inside the transaction
held the project's write lock for minutes, and an answer saved by another process timed out).

* Small documents (held in memory) are written in batches, many per transaction
  (`write_batch`): a codebase of 30,000 files commits a few hundred times, not 30,000.
* A big (spooled) document is written in several short transactions (`write_large`): its
  blocks and chunks part by part first, with no `documents` row yet, so no reader sees them
  (every read of chunks goes through `documents`); then one last transaction inserts the
  `documents` row and removes the old version. An `intake_writes` row names the process
  writing the document; when that process is gone (killed, crashed), `clean_interrupted`
  deletes what it left. So a crash mid-document never leaves a half document visible, and a
  2,415-page PDF or a 200 MB text file never holds the write lock for more than one part.
* A replaced version with many chunks is taken out of sight in the swap transaction and its
  rows deleted afterwards in short transactions (`_retire`, `_drain`), behind the same kind
  of mark, so replacing a big file does not hold the lock for a whole delete either.
* Pool workers hand documents over as rows (`as_rows` -> `RowsDocument`): the writer, the one
  process that writes, then only inserts.
* Every written source records its fingerprint (`source_files`): re-adding a file whose size
  and mtime (zip member: size and CRC-32) are unchanged skips reading it (`fingerprints`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from engine.errors import StoreError
from engine.store.codec import BLOCK_INSERT_COLS, CHUNK_INSERT_COLS, block_row, chunk_row
from engine.store.documents import (
    AddOutcome,
    _delete_document_rows,
    _doc_tables,
    _now,
    document_by_hash,
)
from ingest.prepare import AlreadyStored, PreparedDocument, PreparedPart
from ingest.types import Document

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = [
    "KnownSource",
    "RowsDocument",
    "WriteBusy",
    "as_rows",
    "clean_interrupted",
    "fingerprints",
    "is_stored",
    "write_batch",
    "write_large",
]

_BLOCK_SQL = f"INSERT INTO blocks ({BLOCK_INSERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
_CHUNK_SQL = f"INSERT INTO chunks ({CHUNK_INSERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"


@dataclass(frozen=True, slots=True)
class KnownSource:
    """One source the project holds, as `fingerprints` finds it: its fingerprint and the
    document with its bytes."""

    fingerprint: str
    doc_id: str
    doc_name: str
    n_chunks: int
    n_tokens: int
    n_pages: int | None

    def unchanged(self, name: str) -> AddOutcome:
        """What adding the source (shown as `name`) again, unchanged, did."""
        return AddOutcome(
            "unchanged",
            self.doc_id,
            name,
            n_chunks=self.n_chunks,
            n_tokens=self.n_tokens,
            n_pages=self.n_pages,
            duplicate_of=self.doc_name if self.doc_name != name else None,
        )


def _storable(text: str) -> str:
    # A file name with undecodable bytes arrives with surrogate escapes, which SQLite cannot
    # store; keep the raw bytes visible instead.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def fingerprints(store: ProjectStore) -> dict[str, KnownSource]:
    """Every recorded source fingerprint, by source key, with the document it gave."""
    rows = store.db.execute(
        "SELECT s.source_key, s.fingerprint, d.id, d.name, d.n_chunks, d.n_tokens, d.n_pages "
        "FROM source_files s JOIN documents d ON d.id = s.doc_id"
    ).fetchall()
    return {key: KnownSource(*rest) for key, *rest in rows}


def _record_source(store: ProjectStore, source_key: str, name: str, doc_id: str, fp: str) -> None:
    if not fp:  # no trustworthy fingerprint (a file changed moments ago): read it next time
        store.db.execute("DELETE FROM source_files WHERE source_key = ?", [source_key])
        return
    store.db.execute(
        "INSERT INTO source_files (source_key, doc_id, name, fingerprint, checked_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT(source_key) DO UPDATE SET doc_id = excluded.doc_id, "
        "name = excluded.name, fingerprint = excluded.fingerprint, "
        "checked_at = excluded.checked_at",
        [source_key, doc_id, name, fp, _now()],
    )


def _unchanged(store: ProjectStore, doc_id: str, name: str) -> AddOutcome | None:
    existing = document_by_hash(store, doc_id)
    if existing is None:
        return None
    return AddOutcome(
        "unchanged",
        doc_id,
        name,
        n_chunks=existing.n_chunks,
        n_tokens=existing.n_tokens,
        n_pages=existing.n_pages,
        duplicate_of=existing.name if existing.name != name else None,
    )


def _insert_parts(
    store: ProjectStore, doc_id: str, parts: Iterable[PreparedPart], start: int
) -> int:
    """Insert parts' blocks and chunks; returns the next block ordinal."""
    ordinal = start
    conn = store.db.conn
    for part in parts:
        if part.blocks:
            conn.executemany(
                _BLOCK_SQL,
                [block_row(doc_id, ordinal + i, b) for i, b in enumerate(part.blocks)],
            )
            ordinal += len(part.blocks)
        if part.chunks:
            conn.executemany(_CHUNK_SQL, [chunk_row(doc_id, c, seg) for c, seg in part.chunks])
    return ordinal


def _insert_document(
    store: ProjectStore, prepared: PreparedDocument, drains: list[str]
) -> str | None:
    """Replace any older version of the source and insert the documents row (caller holds
    the transaction; big old versions are left in `drains`). Returns the id of the version
    replaced, if any."""
    doc = prepared.document
    source_key = _storable(doc.source_key)
    old = store.db.execute(
        "SELECT id, n_chunks FROM documents WHERE source_key = ? AND id != ?",
        [source_key, doc.id],
    ).fetchall()
    for old_id, n_chunks in old:
        _replace(store, old_id, n_chunks, drains)
    store.db.execute(
        "INSERT INTO documents (id, name, source_key, kind, language, path, size_bytes, meta, "
        "added_at, n_pages, n_blocks, n_chunks, n_tokens, ocr_pages) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            doc.id,
            doc.name,
            source_key,
            doc.kind.value,
            doc.language,
            doc.path,
            doc.size_bytes,
            json.dumps(doc.meta),
            _now(),
            prepared.n_pages,
            prepared.n_blocks,
            prepared.n_chunks,
            prepared.n_tokens,
            json.dumps(list(prepared.ocr_pages)),
        ],
    )
    _record_source(store, source_key, doc.name, doc.id, prepared.fingerprint)
    return old[0][0] if old else None


def _added(prepared: PreparedDocument, replaced: str | None) -> AddOutcome:
    return AddOutcome(
        "replaced" if replaced else "added",
        prepared.document.id,
        prepared.document.name,
        n_chunks=prepared.n_chunks,
        n_tokens=prepared.n_tokens,
        n_pages=prepared.n_pages,
        ocr_pages=prepared.ocr_pages,
        replaced_id=replaced,
    )


def _document_row(prepared: PreparedDocument, source_key: str, now: str) -> tuple[Any, ...]:
    doc = prepared.document
    return (
        doc.id,
        doc.name,
        source_key,
        doc.kind.value,
        doc.language,
        doc.path,
        doc.size_bytes,
        json.dumps(doc.meta),
        now,
        prepared.n_pages,
        prepared.n_blocks,
        prepared.n_chunks,
        prepared.n_tokens,
        json.dumps(list(prepared.ocr_pages)),
    )


_DOCUMENT_SQL = (
    "INSERT INTO documents (id, name, source_key, kind, language, path, size_bytes, meta, "
    "added_at, n_pages, n_blocks, n_chunks, n_tokens, ocr_pages) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SOURCE_SQL = (
    "INSERT INTO source_files (source_key, doc_id, name, fingerprint, checked_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(source_key) DO UPDATE SET doc_id = excluded.doc_id, "
    "name = excluded.name, fingerprint = excluded.fingerprint, checked_at = excluded.checked_at"
)


@dataclass(frozen=True, slots=True)
class RowsDocument:
    """A prepared document with its blocks and chunks already turned into the store's rows.

    Built where the document was prepared (a pool worker, see `as_rows`), so that the
    ingesting process, the one writer, only inserts them, and tuples of plain values cross
    the process boundary instead of dataclasses (several times cheaper to pickle).
    """

    prepared: PreparedDocument  # its metadata; its parts are in the rows
    blocks: tuple[tuple[Any, ...], ...]
    chunks: tuple[tuple[Any, ...], ...]
    chars: int  # text held, for batch sizing

    @property
    def name(self) -> str:
        return self.prepared.document.name

    @property
    def document(self) -> Document:
        return self.prepared.document

    @property
    def fingerprint(self) -> str:
        return self.prepared.fingerprint

    @property
    def seconds(self) -> float:
        return self.prepared.seconds


def as_rows(prepared: PreparedDocument) -> RowsDocument:
    """An in-memory prepared document as rows (see `RowsDocument`)."""
    doc_id = prepared.document.id
    blocks: list[tuple[Any, ...]] = []
    chunks: list[tuple[Any, ...]] = []
    chars = 0
    for part in prepared.parts():
        for block in part.blocks:
            blocks.append(block_row(doc_id, len(blocks), block))
            chars += len(block.text)
        for chunk, segments in part.chunks:
            chunks.append(chunk_row(doc_id, chunk, segments))
            chars += len(chunk.text)
    meta = dataclasses.replace(prepared, inline=())
    return RowsDocument(meta, tuple(blocks), tuple(chunks), chars)


class _Rows:
    """Rows of a batch, inserted with one executemany per table (in the order added)."""

    def __init__(self, store: ProjectStore) -> None:
        self.store = store
        self.documents: list[tuple[Any, ...]] = []
        self.blocks: list[tuple[Any, ...]] = []
        self.chunks: list[tuple[Any, ...]] = []
        self.sources: list[tuple[Any, ...]] = []
        self.unsourced: list[tuple[str]] = []

    def source(self, key: str, name: str, doc_id: str, fingerprint: str, now: str) -> None:
        if fingerprint:
            self.sources.append((key, doc_id, name, fingerprint, now))
        else:  # no trustworthy fingerprint (a file changed moments ago): read it next time
            self.unsourced.append((key,))

    def add(self, item: PreparedDocument | RowsDocument, key: str, now: str) -> None:
        if isinstance(item, RowsDocument):
            self.documents.append(_document_row(item.prepared, key, now))
            self.blocks.extend(item.blocks)
            self.chunks.extend(item.chunks)
            self.source(key, item.name, item.document.id, item.fingerprint, now)
            return
        prepared = item
        doc_id = prepared.document.id
        self.documents.append(_document_row(prepared, key, now))
        ordinal = 0
        for part in prepared.parts():
            for block in part.blocks:
                self.blocks.append(block_row(doc_id, ordinal, block))
                ordinal += 1
            self.chunks.extend(chunk_row(doc_id, c, seg) for c, seg in part.chunks)
        self.source(key, prepared.document.name, doc_id, prepared.fingerprint, now)

    def flush(self) -> None:
        conn = self.store.db.conn
        for sql, rows in (
            (_DOCUMENT_SQL, self.documents),
            (_BLOCK_SQL, self.blocks),
            (_CHUNK_SQL, self.chunks),
            ("DELETE FROM source_files WHERE source_key = ?", self.unsourced),
            (_SOURCE_SQL, self.sources),
        ):
            if rows:
                conn.executemany(sql, rows)
                rows.clear()


def _in(store: ProjectStore, sql: str, values: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows of `sql` (with one `{}` for an IN list) over `values`, 500 at a time."""
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        out += store.db.execute(sql.format(",".join("?" * len(part))), part).fetchall()
    return out


def write_batch(
    store: ProjectStore,
    items: Sequence[PreparedDocument | RowsDocument | AlreadyStored],
    *,
    source_keys: Sequence[str],
) -> list[AddOutcome | None]:
    """Write in-memory prepared documents (and record already-stored ones) in ONE transaction.

    `source_keys[i]` is the source key of `items[i]`. Outcomes come back in order; a document
    whose bytes are already stored (also earlier in this batch) is `unchanged`. None means
    an `AlreadyStored` whose document was removed meanwhile: prepare that source again.
    Rows go in with one statement per table, in item order; before a replaced version is
    deleted the rows so far are inserted, so rowids are what one-by-one writes give.
    """
    keys = [_storable(k) for k in source_keys]
    ids = [i.doc_id if isinstance(i, AlreadyStored) else i.document.id for i in items]
    outcomes: list[AddOutcome | None] = []
    drains: list[str] = []
    now = _now()
    with store.transaction():
        held = {
            r[0]: r
            for r in _in(
                store,
                "SELECT id, name, n_chunks, n_tokens, n_pages FROM documents WHERE id IN ({})",
                sorted(set(ids)),
            )
        }
        by_key: dict[str, list[tuple[str, int]]] = {}
        for key, doc_id, n_chunks in _in(
            store,
            "SELECT source_key, id, n_chunks FROM documents WHERE source_key IN ({})",
            sorted(set(keys)),
        ):
            by_key.setdefault(key, []).append((doc_id, n_chunks))
        marks = {
            r[0]: r[1:]
            for r in store.db.execute("SELECT doc_id, pid, started, host FROM intake_writes")
        }
        rows = _Rows(store)
        for item, key, doc_id in zip(items, keys, ids, strict=True):
            if doc_id in held:
                _, name, n_chunks, n_tokens, n_pages = held[doc_id]
                rows.source(key, item.name, doc_id, item.fingerprint, now)
                outcomes.append(
                    AddOutcome(
                        "unchanged",
                        doc_id,
                        item.name,
                        n_chunks=n_chunks,
                        n_tokens=n_tokens,
                        n_pages=n_pages,
                        duplicate_of=name if name != item.name else None,
                    )
                )
                continue
            if isinstance(item, AlreadyStored):  # removed since the worker looked
                outcomes.append(None)
                continue
            old = [(i, n) for i, n in by_key.get(key, []) if i != doc_id]
            if old or doc_id in marks:
                rows.flush()  # keep one-by-one order (and rowids) around deletions
                if doc_id in marks:
                    if _owner_alive(*marks.pop(doc_id)):
                        raise WriteBusy(doc_id)
                    _purge_partial(store, doc_id)
                for old_id, n_chunks in old:
                    _replace(store, old_id, n_chunks, drains)
            rows.add(item, key, now)
            meta = item.prepared if isinstance(item, RowsDocument) else item
            held[doc_id] = (doc_id, item.name, meta.n_chunks, meta.n_tokens, meta.n_pages)
            outcomes.append(_added(meta, old[0][0] if old else None))
        rows.flush()
    for old_id in drains:  # the new versions are in sight: clear big old ones away in parts
        _drain(store, old_id)
    return outcomes


# ------------------------------------------------------------------ big documents, in parts
def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so that a reused pid is not
    mistaken for the writer that died; '' where /proc is missing."""
    try:
        stat = open(f"/proc/{pid}/stat", "rb").read()  # noqa: SIM115 - tiny, read at once
    except OSError:
        return ""
    return stat.rsplit(b")", 1)[1].split()[19].decode()


def _owner() -> tuple[int, str, str]:
    pid = os.getpid()
    return pid, _process_start(pid), platform.node()


def _owner_alive(pid: int, started: str, host: str) -> bool:
    if host != platform.node():
        return True  # cannot tell from here: leave its rows alone
    if pid == os.getpid():
        # This process: maybe another ingest of it, still writing. Its own failed writes
        # are cleaned up where they fail; anything left goes once this process has ended.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    return not started or _process_start(pid) in ("", started)


def _purge_partial(store: ProjectStore, doc_id: str) -> None:
    """Delete the rows an unfinished write left for `doc_id` (caller holds the transaction)."""
    if document_by_hash(store, doc_id) is None:
        _delete_document_rows(store, doc_id)  # blocks, chunks, ..., and the intake_writes row
    else:
        store.db.execute("DELETE FROM intake_writes WHERE doc_id = ?", [doc_id])


#: A replaced version with more chunks than this is deleted in parts after the swap.
_RETIRE_CHUNKS = 2048
_DRAIN_ROWS = 1024


def _retire(store: ProjectStore, doc_id: str) -> None:
    """Take a document out of sight at once (caller holds the transaction): its documents
    row and its derived rows go, but its blocks and chunks, the bulk (and, for chunks, the
    FTS index), stay for `_drain` to delete in short transactions, behind a mark."""
    for table in _doc_tables(store):
        if table not in ("chunks", "blocks", "intake_writes"):
            store.db.execute(f"DELETE FROM [{table}] WHERE doc_id = ?", [doc_id])
    name = store.db.execute("SELECT name FROM documents WHERE id = ?", [doc_id]).fetchone()
    store.db.execute("DELETE FROM documents WHERE id = ?", [doc_id])
    pid, started, host = _owner()
    store.db.execute(
        "INSERT OR REPLACE INTO intake_writes (doc_id, name, pid, started, host, started_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [doc_id, name[0] if name else "", pid, started, host, _now()],
    )


def _drain(store: ProjectStore, doc_id: str) -> None:
    """Delete a retired document's blocks and chunks, `_DRAIN_ROWS` per transaction."""
    for table in ("chunks", "blocks"):
        while True:
            with store.transaction():
                deleted = store.db.execute(
                    f"DELETE FROM [{table}] WHERE rowid IN "
                    f"(SELECT rowid FROM [{table}] WHERE doc_id = ? LIMIT ?)",
                    [doc_id, _DRAIN_ROWS],
                ).rowcount
            if deleted < _DRAIN_ROWS:
                break
    with store.transaction():
        store.db.execute("DELETE FROM intake_writes WHERE doc_id = ?", [doc_id])


def _replace(store: ProjectStore, old_id: str, n_chunks: int, drains: list[str]) -> None:
    """Delete an old version (caller holds the transaction): a small one at once, a big one
    retired now and drained by the caller after the commit (`drains`)."""
    if n_chunks > _RETIRE_CHUNKS:
        _retire(store, old_id)
        drains.append(old_id)
    else:
        _delete_document_rows(store, old_id)


def clean_interrupted(store: ProjectStore) -> list[str]:
    """Remove what writes by processes that are gone left behind; returns their doc ids.

    Those rows were never visible (no `documents` row), so this only reclaims space and
    keeps doc ids free for the next attempt. Blocks and chunks go in parts (`_drain`).
    """
    rows = store.db.execute("SELECT doc_id, pid, started, host FROM intake_writes").fetchall()
    stale = [doc_id for doc_id, pid, started, host in rows if not _owner_alive(pid, started, host)]
    for doc_id in stale:
        if document_by_hash(store, doc_id) is None:
            _drain(store, doc_id)
        with store.transaction():
            _purge_partial(store, doc_id)  # what else it left, and the mark
    return stale


class WriteBusy(StoreError):
    """Another live process is writing the same document right now."""


def write_large(store: ProjectStore, prepared: PreparedDocument, *, source_key: str) -> AddOutcome:
    """Write one big document in several short transactions (see the module docstring)."""
    doc_id = prepared.document.id
    name = prepared.document.name
    with store.transaction():
        unchanged = _unchanged(store, doc_id, name)
        if unchanged is not None:
            _record_source(store, _storable(source_key), name, doc_id, prepared.fingerprint)
            return unchanged
        other = store.db.execute(
            "SELECT pid, started, host FROM intake_writes WHERE doc_id = ?", [doc_id]
        ).fetchone()
        if other is not None:
            if _owner_alive(*other):
                raise WriteBusy(name)
            _purge_partial(store, doc_id)
        pid, started, host = _owner()
        store.db.execute(
            "INSERT INTO intake_writes (doc_id, name, pid, started, host, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [doc_id, name, pid, started, host, _now()],
        )
    try:
        ordinal = 0
        for part in prepared.parts():
            with store.transaction():
                ordinal = _insert_parts(store, doc_id, (part,), ordinal)
        drains: list[str] = []
        with store.transaction():
            replaced = _insert_document(store, prepared, drains)
            store.db.execute("DELETE FROM intake_writes WHERE doc_id = ?", [doc_id])
    except BaseException:
        try:
            with store.transaction():
                _purge_partial(store, doc_id)
        except Exception:
            pass
        raise
    for old_id in drains:  # the new version is in sight: clear the old one away in parts
        _drain(store, old_id)
    return _added(prepared, replaced)


@lru_cache(maxsize=4)
def _read_only(db_path: str) -> sqlite3.Connection:
    # One read-only connection per project per process (a pool worker asks thousands of times).
    conn = sqlite3.connect(
        f"file:{db_path}?mode=ro", uri=True, timeout=30.0, check_same_thread=False
    )
    conn.execute("PRAGMA query_only=ON")
    return conn


def is_stored(db_path: str, doc_id: str) -> bool:
    """Whether the project at `db_path` holds a document with these bytes (read-only; for
    pool workers, which must not write)."""
    row = _read_only(db_path).execute("SELECT 1 FROM documents WHERE id = ?", [doc_id]).fetchone()
    return row is not None
