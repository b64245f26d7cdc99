"""One project's SQLite database: documents, blocks, chunks and their FTS5 index (and, through
later migrations, the summary tree, embeddings, chats and notes).

A `ProjectStore` belongs to one thread (sqlite3 connections must not be shared); opening one is
cheap, so open one per thread or per request. The database runs in WAL mode: readers never wait
for the writer, and a crash mid-write leaves the last committed state intact.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from engine.errors import SchemaTooNew, StoreError
from engine.migrations import MIGRATIONS
from engine.types import DocumentInfo, StoredChunk
from ingest.types import Block, Chunk, Document, Locator

__all__ = ["AddOutcome", "ProjectStore", "fts_query"]

_CHUNK_COLS = (
    "c.id, c.rowid, c.doc_id, d.name, c.ordinal, c.text, c.n_tokens, c.overlap, c.page, "
    "c.page_end, c.line_start, c.line_end, c.paragraph, c.paragraph_end, c.heading_path, "
    "c.segments"
)
_BATCH = 256


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _row_to_chunk(row: tuple[Any, ...]) -> StoredChunk:
    (
        cid,
        rowid,
        doc_id,
        name,
        ordinal,
        text,
        n_tokens,
        overlap,
        page,
        page_end,
        ls,
        le,
        para,
        para_end,
        heading,
        segments,
    ) = row
    return StoredChunk(
        id=cid,
        rowid=rowid,
        doc_id=doc_id,
        document=name,
        ordinal=ordinal,
        text=text,
        n_tokens=n_tokens,
        overlap=overlap,
        locator=Locator(
            doc_id=doc_id,
            page=page,
            page_end=page_end,
            line_start=ls,
            line_end=le,
            paragraph=para,
            paragraph_end=para_end,
            heading_path=tuple(json.loads(heading)),
        ),
        segments_json=segments,
    )


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str, *, mode: str = "or") -> str:
    """Turn free text into a safe FTS5 query: bare words, quoted, OR-ed (BM25 ranks by how
    many and how rare). User punctuation never reaches FTS5's query syntax."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]
    seen: dict[str, None] = {}
    for w in words:
        seen.setdefault(w, None)
    joiner = " OR " if mode == "or" else " "
    return joiner.join(f'"{w}"' for w in seen)


@dataclass(frozen=True, slots=True)
class AddOutcome:
    """What adding one document did."""

    status: str  # "added" | "replaced" | "unchanged"
    doc_id: str
    name: str
    n_chunks: int = 0
    n_tokens: int = 0
    n_pages: int | None = None
    ocr_pages: tuple[int, ...] = ()
    replaced_id: str | None = None
    duplicate_of: str | None = None  # same bytes already present under this name


class ProjectStore:
    """Read and write one project database. Use as a context manager or call `close()`.

    A store may be handed between threads but must be used by one thread at a time.
    """

    def __init__(self, path: Path, *, create: bool = True, backup: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"project database {self.path} does not exist")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # check_same_thread=False: a streaming UI handler may resume on another worker
            # thread; a store is still used by one flow at a time (see the class docstring).
            conn = sqlite3.connect(str(self.path), timeout=120.0, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open project database {self.path}: {exc}") from exc
        self.db = Database(conn, execute_plugins=False)
        # WAL: readers don't block the writer, and a killed process loses only the open
        # transaction. synchronous=NORMAL is durable across process crashes in WAL mode.
        with self.db.ensure_autocommit_on():
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=120000")
        self.db.execute("PRAGMA foreign_keys=OFF")
        self._migrate(backup=backup)

    # ------------------------------------------------------------------ lifecycle
    def _migrate(self, *, backup: bool) -> None:
        known = {m.name for m in MIGRATIONS._migrations}
        applied = MIGRATIONS.applied(self.db)
        unknown = [m.name for m in applied if m.name not in known]
        if unknown:
            raise SchemaTooNew(
                f"{self.path} was saved by a newer version of Tomes (schema step {unknown[-1]}); "
                "upgrade Tomes to open it. Nothing was changed."
            )
        pending = MIGRATIONS.pending(self.db)
        if not pending:
            return
        if applied and backup:
            self._backup(f"before-{pending[0].name}")
        MIGRATIONS.apply(self.db)

    def _backup(self, label: str) -> Path:
        """Copy the database (consistently, via SQLite's backup API) before changing its schema."""
        folder = self.path.parent / "backups"
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = folder / f"{self.path.stem}-{stamp}-{label}.db"
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
        is locked" when its first write finds that another connection committed in between
        (WAL's SQLITE_BUSY_SNAPSHOT): seen when a chat was saved during an ingest.
        """
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic() as db:  # a savepoint inside the open transaction
                yield db
            return
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

    # ------------------------------------------------------------------ documents
    def document_by_hash(self, doc_id: str) -> DocumentInfo | None:
        row = self.db.execute("SELECT * FROM documents WHERE id = ?", [doc_id]).fetchone()
        return self._doc(row) if row else None

    def documents(self) -> list[DocumentInfo]:
        rows = self.db.execute("SELECT * FROM documents ORDER BY added_at, name").fetchall()
        return [self._doc(r) for r in rows]

    def document(self, doc_id: str) -> DocumentInfo:
        doc = self.document_by_hash(doc_id)
        if doc is None:
            raise StoreError(f"no document {doc_id[:12]}… in this project")
        return doc

    def _doc(self, row: tuple[Any, ...]) -> DocumentInfo:
        cols = [c[0] for c in self.db.execute("SELECT * FROM documents LIMIT 0").description]
        r = dict(zip(cols, row, strict=True))
        return DocumentInfo(
            id=r["id"],
            name=r["name"],
            kind=r["kind"],
            source_key=r["source_key"],
            size_bytes=r["size_bytes"],
            n_pages=r["n_pages"],
            n_chunks=r["n_chunks"],
            n_tokens=r["n_tokens"],
            ocr_pages=tuple(json.loads(r["ocr_pages"])),
            added_at=r["added_at"],
            path=r["path"],
            language=r["language"],
        )

    def add_document(
        self,
        document: Document,
        chunk_stream: Iterable[tuple[Chunk, str]],
        blocks_seen: list[Block],
    ) -> AddOutcome:
        """Write one document, its blocks and chunks in a single transaction.

        `chunk_stream` yields (chunk, segments_json) pairs while it consumes the document's
        blocks; every block it has read is appended to `blocks_seen` by the caller's tee, and
        written here in batches, so memory stays bounded by a batch. If the same bytes are
        already stored, nothing is written. If the same source (path) is stored with other
        bytes, the old version is replaced in the same transaction.
        """
        existing = self.document_by_hash(document.id)
        if existing is not None:
            return AddOutcome(
                "unchanged",
                document.id,
                document.name,
                n_chunks=existing.n_chunks,
                n_tokens=existing.n_tokens,
                n_pages=existing.n_pages,
                duplicate_of=existing.name if existing.name != document.name else None,
            )
        # A file name with undecodable bytes arrives with surrogate escapes, which SQLite
        # cannot store; keep the raw bytes visible instead.
        source_key = document.source_key.encode("utf-8", "surrogateescape").decode(
            "utf-8", "backslashreplace"
        )
        with self.transaction():
            old = self.db.execute(
                "SELECT id FROM documents WHERE source_key = ?", [source_key]
            ).fetchall()
            replaced = old[0][0] if old else None
            for (old_id,) in old:
                self._delete_document_rows(old_id)
            self.db.execute(
                "INSERT INTO documents (id, name, source_key, kind, language, path, size_bytes, "
                "meta, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    document.id,
                    document.name,
                    source_key,
                    document.kind.value,
                    document.language,
                    document.path,
                    document.size_bytes,
                    json.dumps(document.meta),
                    _now(),
                ],
            )
            n_chunks = n_tokens = n_blocks = 0
            max_page = 0
            ocr_pages: list[int] = []
            chunk_rows: list[tuple[Any, ...]] = []

            def flush_blocks() -> None:
                nonlocal n_blocks, max_page
                rows = []
                for b in blocks_seen:
                    loc = b.locator
                    if loc.page:
                        max_page = max(max_page, loc.page)
                    if b.needs_ocr and loc.page:
                        ocr_pages.append(loc.page)
                    rows.append(
                        (
                            document.id,
                            n_blocks,
                            b.kind.value,
                            b.text,
                            loc.page,
                            loc.line_start,
                            loc.line_end,
                            loc.paragraph,
                            json.dumps(list(loc.heading_path)),
                            int(b.needs_ocr),
                        )
                    )
                    n_blocks += 1
                blocks_seen.clear()
                if rows:
                    self.db.conn.executemany(
                        "INSERT INTO blocks (doc_id, ordinal, kind, text, page, line_start, "
                        "line_end, paragraph, heading_path, needs_ocr) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?)",
                        rows,
                    )

            def flush_chunks() -> None:
                if chunk_rows:
                    self.db.conn.executemany(
                        "INSERT INTO chunks (id, doc_id, ordinal, text, n_tokens, overlap, "
                        "char_start, page, page_end, line_start, line_end, paragraph, "
                        "paragraph_end, heading_path, segments) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        chunk_rows,
                    )
                    chunk_rows.clear()

            for chunk, segments in chunk_stream:
                loc = chunk.locator
                chunk_rows.append(
                    (
                        chunk.id,
                        document.id,
                        chunk.ordinal,
                        chunk.text,
                        chunk.n_tokens,
                        chunk.overlap,
                        chunk.char_start,
                        loc.page,
                        loc.page_end,
                        loc.line_start,
                        loc.line_end,
                        loc.paragraph,
                        loc.paragraph_end,
                        json.dumps(list(loc.heading_path)),
                        segments,
                    )
                )
                n_chunks += 1
                n_tokens += chunk.n_tokens
                if len(chunk_rows) >= _BATCH:
                    flush_chunks()
                if len(blocks_seen) >= _BATCH:
                    flush_blocks()
            flush_chunks()
            flush_blocks()
            n_pages = max_page or None
            if document.meta.get("pages", "").isdigit():
                n_pages = int(document.meta["pages"])
            self.db.execute(
                "UPDATE documents SET n_pages = ?, n_blocks = ?, n_chunks = ?, n_tokens = ?, "
                "ocr_pages = ? WHERE id = ?",
                [n_pages, n_blocks, n_chunks, n_tokens, json.dumps(ocr_pages), document.id],
            )
        return AddOutcome(
            "replaced" if replaced else "added",
            document.id,
            document.name,
            n_chunks=n_chunks,
            n_tokens=n_tokens,
            n_pages=n_pages,
            ocr_pages=tuple(ocr_pages),
            replaced_id=replaced,
        )

    def _delete_document_rows(self, doc_id: str) -> None:
        """Remove a document and everything derived from it (caller holds the transaction)."""
        for table in self._doc_tables():
            self.db.execute(f"DELETE FROM [{table}] WHERE doc_id = ?", [doc_id])
        self.db.execute("DELETE FROM documents WHERE id = ?", [doc_id])

    def _doc_tables(self) -> list[str]:
        """Every table with a doc_id column (later migrations add some), chunks last so that
        tables referencing chunk rows can still find them."""
        tables = [
            t
            for t in self.db.table_names()
            if not t.startswith("chunks_fts") and "doc_id" in self.db[t].columns_dict
        ]
        return sorted(tables, key=lambda t: t == "chunks")

    def remove_document(self, doc_id: str) -> None:
        with self.transaction():
            self._delete_document_rows(doc_id)

    # ------------------------------------------------------------------ chunks
    def chunk(self, chunk_id: str) -> StoredChunk:
        row = self.db.execute(
            f"SELECT {_CHUNK_COLS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.id = ?",
            [chunk_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"no chunk {chunk_id} in this project")
        return _row_to_chunk(row)

    def chunks(self, chunk_ids: Iterable[str]) -> list[StoredChunk]:
        ids = list(chunk_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT {_CHUNK_COLS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.id IN ({marks})",
            ids,
        ).fetchall()
        by_id = {r[0]: _row_to_chunk(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def chunks_by_rowid(self, rowids: Iterable[int]) -> list[StoredChunk]:
        ids = list(rowids)
        if not ids:
            return []
        rows: dict[int, StoredChunk] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for r in self.db.execute(
                f"SELECT {_CHUNK_COLS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
                f"WHERE c.rowid IN ({marks})",
                part,
            ):
                rows[r[1]] = _row_to_chunk(r)
        return [rows[i] for i in ids if i in rows]

    def doc_chunks(self, doc_id: str, start: int = 0, end: int | None = None) -> list[StoredChunk]:
        """A document's chunks with ordinals in [start, end] (inclusive), in order."""
        hi = end if end is not None else 1 << 62
        rows = self.db.execute(
            f"SELECT {_CHUNK_COLS} FROM chunks c JOIN documents d ON d.id = c.doc_id "
            "WHERE c.doc_id = ? AND c.ordinal BETWEEN ? AND ? ORDER BY c.ordinal",
            [doc_id, start, hi],
        ).fetchall()
        return [_row_to_chunk(r) for r in rows]

    def count_chunks(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def search(
        self, query: str, *, limit: int = 20, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[StoredChunk, float]]:
        """BM25 keyword search over chunk text; best first. Scores are positive (higher =
        better). `doc_ids` limits the search to those documents. An empty or all-punctuation
        query returns nothing."""
        q = fts_query(query)
        if not q:
            return []
        scope, args = "", [q]
        if doc_ids is not None:
            scope = f" AND c.doc_id IN ({','.join('?' * len(doc_ids))})"
            args += list(doc_ids)
        try:
            rows = self.db.execute(
                f"SELECT {_CHUNK_COLS}, -bm25(chunks_fts) AS score FROM chunks_fts "
                "JOIN chunks c ON c.rowid = chunks_fts.rowid "
                "JOIN documents d ON d.id = c.doc_id "
                f"WHERE chunks_fts MATCH ?{scope} ORDER BY bm25(chunks_fts) LIMIT ?",
                [*args, limit],
            ).fetchall()
        except sqlite3.OperationalError as exc:  # pragma: no cover - fts_query keeps syntax safe
            raise StoreError(f"search failed for {query!r}: {exc}") from exc
        return [(_row_to_chunk(r[:-1]), float(r[-1])) for r in rows]

    # ------------------------------------------------------------------ blocks (viewer)
    def blocks(self, doc_id: str, *, page: int | None = None) -> list[tuple[Block, int]]:
        """A document's blocks (optionally one page) with their ordinals, in order."""
        sql = (
            "SELECT ordinal, kind, text, page, line_start, line_end, paragraph, heading_path, "
            "needs_ocr FROM blocks WHERE doc_id = ?"
        )
        args: list[Any] = [doc_id]
        if page is not None:
            sql += " AND page = ?"
            args.append(page)
        from ingest.types import BlockKind

        out = []
        for ordinal, kind, text, pg, ls, le, para, heading, ocr in self.db.execute(
            sql + " ORDER BY ordinal", args
        ):
            loc = Locator(
                doc_id=doc_id,
                page=pg,
                line_start=ls,
                line_end=le,
                paragraph=para,
                heading_path=tuple(json.loads(heading)),
            )
            out.append((Block(text, loc, BlockKind(kind), bool(ocr)), ordinal))
        return out

    # ------------------------------------------------------------------ maintenance
    def stats(self) -> dict[str, int]:
        docs, chunks, tokens = self.db.execute(
            "SELECT count(*), coalesce(sum(n_chunks),0), coalesce(sum(n_tokens),0) FROM documents"
        ).fetchone()
        return {"documents": docs, "chunks": chunks, "tokens": tokens}

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def copy_to(self, target: Path) -> None:
        """A consistent copy of the database (e.g. for export or backup)."""
        dest = sqlite3.connect(str(target))
        try:
            self.db.conn.backup(dest)
        finally:
            dest.close()
