"""Documents, their blocks and chunks: adding and removing them, and every read of them (the
lists, chunk lookups, keyword search with FTS5, the viewer's pages and lines, the pages the
keyword index and the summary tree are built from).

Functions take the `ProjectStore` first; `ProjectStore` exposes the common ones as methods.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from engine.errors import StoreError
from engine.store.codec import (
    BLOCK_COLS,
    BLOCK_INSERT_COLS,
    CHUNK_COLS,
    CHUNK_INSERT_COLS,
    block_from_row,
    block_row,
    chunk_from_row,
    chunk_row,
)
from engine.store.fts import doc_scope, fts_query
from engine.types import DocumentInfo, StoredChunk
from ingest.types import Block, Chunk, DocKind, Document

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = [
    "AddOutcome",
    "AddStatus",
    "add_document",
    "blocks",
    "chunk",
    "chunk_pages",
    "chunk_stamp",
    "chunks",
    "count_chunks",
    "doc_chunks",
    "document",
    "document_by_hash",
    "document_names",
    "documents",
    "lines",
    "openings",
    "remove_document",
    "search",
    "stats",
]

_BATCH = 256
_FROM_CHUNKS = "FROM chunks c JOIN documents d ON d.id = c.doc_id"
_DOC_COLS = (
    "id, name, kind, source_key, size_bytes, n_pages, n_chunks, n_tokens, ocr_pages, added_at, "
    "path, language"
)

AddStatus = Literal["added", "replaced", "unchanged"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class AddOutcome:
    """What adding one document did."""

    status: AddStatus
    doc_id: str
    name: str
    n_chunks: int = 0
    n_tokens: int = 0
    n_pages: int | None = None
    ocr_pages: tuple[int, ...] = ()
    replaced_id: str | None = None
    duplicate_of: str | None = None  # same bytes already present under this name


# ---------------------------------------------------------------------------------- documents
def _doc(row: Sequence[Any]) -> DocumentInfo:
    (id_, name, kind, source_key, size, n_pages, n_chunks, n_tokens, ocr, added, path, lang) = row
    return DocumentInfo(
        id=id_,
        name=name,
        kind=DocKind(kind),
        source_key=source_key,
        size_bytes=size,
        n_pages=n_pages,
        n_chunks=n_chunks,
        n_tokens=n_tokens,
        ocr_pages=tuple(json.loads(ocr)),
        added_at=added,
        path=path,
        language=lang,
    )


def document_by_hash(store: ProjectStore, doc_id: str) -> DocumentInfo | None:
    row = store.db.execute(f"SELECT {_DOC_COLS} FROM documents WHERE id = ?", [doc_id]).fetchone()
    return _doc(row) if row else None


def documents(store: ProjectStore) -> list[DocumentInfo]:
    """Every document, in the order they were added."""
    rows = store.db.execute(f"SELECT {_DOC_COLS} FROM documents ORDER BY added_at, name")
    return [_doc(r) for r in rows.fetchall()]


def document(store: ProjectStore, doc_id: str) -> DocumentInfo:
    doc = document_by_hash(store, doc_id)
    if doc is None:
        raise StoreError(f"no document {doc_id[:12]}… in this project")
    return doc


def document_names(store: ProjectStore) -> dict[str, str]:
    """Document id → name, in the order they were added."""
    rows = store.db.execute("SELECT id, name FROM documents ORDER BY added_at, name")
    return dict(rows.fetchall())


def add_document(
    store: ProjectStore,
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
    existing = document_by_hash(store, document.id)
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
    db = store.db
    with store.transaction():
        old = db.execute("SELECT id FROM documents WHERE source_key = ?", [source_key]).fetchall()
        replaced = old[0][0] if old else None
        for (old_id,) in old:
            _delete_document_rows(store, old_id)
        db.execute(
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
                page = b.locator.page
                if page:
                    max_page = max(max_page, page)
                    if b.needs_ocr:
                        ocr_pages.append(page)
                rows.append(block_row(document.id, n_blocks, b))
                n_blocks += 1
            blocks_seen.clear()
            if rows:
                db.conn.executemany(
                    f"INSERT INTO blocks ({BLOCK_INSERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows
                )

        def flush_chunks() -> None:
            if chunk_rows:
                db.conn.executemany(
                    f"INSERT INTO chunks ({CHUNK_INSERT_COLS}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    chunk_rows,
                )
                chunk_rows.clear()

        for chunk_, segments in chunk_stream:
            chunk_rows.append(chunk_row(document.id, chunk_, segments))
            n_chunks += 1
            n_tokens += chunk_.n_tokens
            if len(chunk_rows) >= _BATCH:
                flush_chunks()
            if len(blocks_seen) >= _BATCH:
                flush_blocks()
        flush_chunks()
        flush_blocks()
        n_pages = max_page or None
        if document.meta.get("pages", "").isdigit():
            n_pages = int(document.meta["pages"])
        db.execute(
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


def _delete_document_rows(store: ProjectStore, doc_id: str) -> None:
    """Remove a document and everything derived from it (caller holds the transaction)."""
    for table in _doc_tables(store):
        store.db.execute(f"DELETE FROM [{table}] WHERE doc_id = ?", [doc_id])
    store.db.execute("DELETE FROM documents WHERE id = ?", [doc_id])


def _doc_tables(store: ProjectStore) -> list[str]:
    """Every table with a doc_id column (later migrations add some), chunks last so that
    tables referencing chunk rows can still find them."""
    db = store.db
    tables = [
        t
        for t in db.table_names()
        if not t.startswith("chunks_fts") and "doc_id" in db[t].columns_dict
    ]
    return sorted(tables, key=lambda t: t == "chunks")


def remove_document(store: ProjectStore, doc_id: str) -> None:
    with store.transaction():
        _delete_document_rows(store, doc_id)


def stats(store: ProjectStore) -> dict[str, int]:
    """How many documents, chunks and tokens the project holds."""
    docs, n_chunks, tokens = store.db.execute(
        "SELECT count(*), coalesce(sum(n_chunks),0), coalesce(sum(n_tokens),0) FROM documents"
    ).fetchone()
    return {"documents": docs, "chunks": n_chunks, "tokens": tokens}


# ---------------------------------------------------------------------------------- chunks
def chunk(store: ProjectStore, chunk_id: str) -> StoredChunk:
    row = store.db.execute(f"SELECT {CHUNK_COLS} {_FROM_CHUNKS} WHERE c.id = ?", [chunk_id])
    found = row.fetchone()
    if found is None:
        raise StoreError(f"no chunk {chunk_id} in this project")
    return chunk_from_row(found)


def chunks(store: ProjectStore, chunk_ids: Iterable[str]) -> list[StoredChunk]:
    """The chunks with these ids, in the order asked (unknown ids are left out)."""
    ids = list(chunk_ids)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = store.db.execute(f"SELECT {CHUNK_COLS} {_FROM_CHUNKS} WHERE c.id IN ({marks})", ids)
    by_id = {r[0]: chunk_from_row(r) for r in rows.fetchall()}
    return [by_id[i] for i in ids if i in by_id]


def doc_chunks(
    store: ProjectStore,
    doc_id: str,
    start: int = 0,
    end: int | None = None,
    *,
    limit: int | None = None,
) -> list[StoredChunk]:
    """A document's chunks with ordinals in [start, end] (inclusive), in order, at most
    `limit` of them. Ordinals may be sparse (scanned pages reserve some: see
    ingest.ocr.ordinals), so count chunks with `limit`, never with ordinal arithmetic."""
    hi = end if end is not None else 1 << 62
    rows = store.db.execute(
        f"SELECT {CHUNK_COLS} {_FROM_CHUNKS} "
        "WHERE c.doc_id = ? AND c.ordinal BETWEEN ? AND ? ORDER BY c.ordinal LIMIT ?",
        [doc_id, start, hi, -1 if limit is None else limit],
    )
    return [chunk_from_row(r) for r in rows.fetchall()]


def openings(store: ProjectStore, *, chars: int = 2000) -> list[tuple[str, str, str, str]]:
    """Every document's (id, name, kind, first `chars` characters of its first chunk): where
    a document states its title and parties. Code files give "" (their names say it all)."""
    rows = store.db.execute(
        "SELECT d.id, d.name, d.kind, CASE WHEN d.kind = 'code' THEN '' "
        "ELSE substr(coalesce(c.text, ''), 1, ?) END FROM documents d "
        "LEFT JOIN chunks c ON c.doc_id = d.id AND c.ordinal = 0 ORDER BY d.added_at, d.name",
        [chars],
    ).fetchall()
    return [(str(a), str(b), str(k), str(t)) for a, b, k, t in rows]


# Reads of chunks go through documents: the rows of a big document being written in parts
# (engine.store.writes) exist before its documents row does, and must not be seen.
def count_chunks(store: ProjectStore) -> int:
    return int(store.db.execute(f"SELECT count(*) {_FROM_CHUNKS}").fetchone()[0])


def chunk_stamp(store: ProjectStore) -> tuple[int, int, int]:
    """(count, highest rowid, sum of rowids) of the chunks: changes whenever documents come
    or go, so an index built from the chunks can tell whether it is still current."""
    n, top, total = store.db.execute(
        f"SELECT count(*), coalesce(max(c.rowid), 0), coalesce(sum(c.rowid), 0) {_FROM_CHUNKS}"
    ).fetchone()
    return int(n), int(top), int(total)


def code_doc_ids(store: ProjectStore) -> set[str]:
    """Ids of the project's source-code documents (their chunks carry code symbols)."""
    rows = store.db.execute("SELECT id FROM documents WHERE kind = 'code'").fetchall()
    return {r[0] for r in rows}


def chunk_pages(store: ProjectStore, *, page: int = 1000) -> Iterator[list[tuple[str, str, str]]]:
    """Every chunk as (chunk id, doc id, text), in insertion order, `page` rows at a time
    (memory stays flat in corpus size)."""
    after = -1
    while True:
        rows = store.db.execute(
            f"SELECT c.rowid, c.id, c.doc_id, c.text {_FROM_CHUNKS} WHERE c.rowid > ? "
            "ORDER BY c.rowid LIMIT ?",
            [after, page],
        ).fetchall()
        if not rows:
            return
        after = rows[-1][0]
        yield [(cid, doc_id, text) for _, cid, doc_id, text in rows]


def search(
    store: ProjectStore, query: str, *, limit: int = 20, doc_ids: Sequence[str] | None = None
) -> list[tuple[StoredChunk, float]]:
    """BM25 keyword search over chunk text (FTS5); best first. Scores are positive (higher =
    better). `doc_ids` limits the search to those documents. An empty or all-punctuation
    query returns nothing."""
    q = fts_query(query)
    if not q:
        return []
    scope, args = doc_scope("c.doc_id", doc_ids)
    try:
        rows = store.db.execute(
            f"SELECT {CHUNK_COLS}, -bm25(chunks_fts) AS score FROM chunks_fts "
            "JOIN chunks c ON c.rowid = chunks_fts.rowid "
            "JOIN documents d ON d.id = c.doc_id "
            f"WHERE chunks_fts MATCH ?{scope} ORDER BY bm25(chunks_fts) LIMIT ?",
            [q, *args, limit],
        ).fetchall()
    except sqlite3.OperationalError as exc:  # pragma: no cover - fts_query keeps syntax safe
        raise StoreError(f"search failed for {query!r}: {exc}") from exc
    return [(chunk_from_row(r[:-1]), float(r[-1])) for r in rows]


def search_span(
    store: ProjectStore, query: str, doc_id: str, first: int, last: int, *, limit: int
) -> list[StoredChunk]:
    """The chunks of `doc_id` with ordinals in [first, last] that best match `query` (FTS5
    BM25), best first: the leaves of a summary node worth reading."""
    q = fts_query(query)
    if not q:
        return []
    rows = store.db.execute(
        "SELECT c.id FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
        "WHERE chunks_fts MATCH ? AND c.doc_id = ? AND c.ordinal BETWEEN ? AND ? "
        "ORDER BY bm25(chunks_fts) LIMIT ?",
        [q, doc_id, first, last, limit],
    ).fetchall()
    return chunks(store, [r[0] for r in rows])


# ---------------------------------------------------------------------------------- blocks
def blocks(store: ProjectStore, doc_id: str, *, page: int | None = None) -> list[tuple[Block, int]]:
    """A document's blocks (optionally one page) with their ordinals, in order."""
    sql = f"SELECT {BLOCK_COLS} FROM blocks WHERE doc_id = ?"
    args: list[Any] = [doc_id]
    if page is not None:
        sql += " AND page = ?"
        args.append(page)
    return [block_from_row(doc_id, r) for r in store.db.execute(sql + " ORDER BY ordinal", args)]


def lines(store: ProjectStore, doc_id: str, lo: int, hi: int) -> list[tuple[int, str]]:
    """(line number, line text incl. newline) for lines lo..hi of a text or code document,
    from its stored blocks."""
    rows = store.db.execute(
        "SELECT text, line_start FROM blocks "
        "WHERE doc_id = ? AND line_end >= ? AND line_start <= ? ORDER BY ordinal",
        [doc_id, lo, hi],
    ).fetchall()
    out: list[tuple[int, str]] = []
    for text, line_start in rows:
        number = line_start
        for piece in re.split(r"(?<=\n)", text):
            if not piece:
                continue
            if out and out[-1][0] == number and not out[-1][1].endswith("\n"):
                out[-1] = (number, out[-1][1] + piece)  # a long line split across blocks
            elif lo <= number <= hi:
                out.append((number, piece))
            if piece.endswith("\n"):
                number += 1
    return out
