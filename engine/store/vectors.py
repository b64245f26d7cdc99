"""Embedding rows (`embeddings`): what lacks a vector, writing a batch, pruning vectors whose
chunk or node is gone, and the pages a `VectorIndex` loads.

One row per (kind, ref, model): chunks (ref = chunk id) and summary nodes (ref = str(node id)),
a float32 L2-normalized vector (little-endian bytes) and a short hash of the exact text
embedded. Rows get strictly increasing rowids (a high-water mark kept in `meta`), which is
what lets an index refresh by reading only rows it has not seen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.types import ItemKind

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = [
    "VectorRow",
    "count_vectors",
    "data_stamp",
    "existing",
    "missing_chunk_count",
    "missing_chunks",
    "model_extent",
    "node_hashes",
    "prune_orphans",
    "vector_page",
    "vector_rowids",
    "write_vectors",
]

_HWM_KEY = "embeddings.rowid_hwm"
_PAGE = 512  # ids per statement when looking up or deleting by id

_CHUNK_MISSING = (
    "NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.kind = 'chunk' AND e.ref = c.id "
    "AND e.model = ?)"
)
_ORPHAN = (
    "((e.kind = 'chunk' AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.id = e.ref)) OR "
    "(e.kind = 'node' AND NOT EXISTS "
    "(SELECT 1 FROM nodes n WHERE n.id = CAST(e.ref AS INTEGER))))"
)


# ---------------------------------------------------------------------------------- pending
def missing_chunk_count(store: ProjectStore, model_id: str) -> int:
    """How many chunks have no vector of `model_id`."""
    # Through documents: a big document being written in parts is not there yet.
    sql = (
        f"SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE {_CHUNK_MISSING}"
    )
    return int(store.db.execute(sql, [model_id]).fetchone()[0])


def missing_chunks(
    store: ProjectStore, model_id: str, *, after: int, limit: int
) -> list[tuple[int, str, str, tuple[str, ...]]]:
    """The next `limit` chunks (after rowid `after`, in insertion order) with no vector of
    `model_id`: (rowid, chunk id, text, heading path)."""
    rows = store.db.execute(
        "SELECT c.rowid, c.id, c.text, c.heading_path FROM chunks c "
        "JOIN documents d ON d.id = c.doc_id "
        f"WHERE c.rowid > ? AND {_CHUNK_MISSING} ORDER BY c.rowid LIMIT ?",
        [after, model_id, limit],
    ).fetchall()
    return [(rowid, cid, text, tuple(json.loads(heads))) for rowid, cid, text, heads in rows]


def node_hashes(
    store: ProjectStore, model_id: str, *, after: int, limit: int
) -> list[tuple[int, str, str | None]]:
    """The next `limit` nodes after id `after`: (id, text, hash of the text its vector of
    `model_id` was computed from, or None without one)."""
    rows = store.db.execute(
        "SELECT n.id, n.text, e.text_hash FROM nodes n LEFT JOIN embeddings e "
        "ON e.kind = 'node' AND e.ref = CAST(n.id AS TEXT) AND e.model = ? "
        "WHERE n.id > ? ORDER BY n.id LIMIT ?",
        [model_id, after, limit],
    ).fetchall()
    return [(int(i), t, h) for i, t, h in rows]


# ---------------------------------------------------------------------------------- writes
@dataclass(frozen=True, slots=True)
class VectorRow:
    """One vector to store: its chunk id or node id, the exact text embedded (a node's
    vector is written only while the node still has this text) and that text's hash."""

    ref: str | int
    text: str
    text_hash: str
    vector: bytes  # float32, little-endian


def write_vectors(
    store: ProjectStore, kind: ItemKind, rows: Sequence[VectorRow], *, model_id: str, dim: int
) -> int:
    """Store one batch of vectors in one transaction; returns how many rows were written.

    A row is written only if its chunk (or its node, with the same text) still exists at
    commit time: another thread may have deleted the document, or rewritten the node, while
    this batch was being embedded, and a vector must never outlive its source.
    """
    db = store.db
    with store.transaction():
        # The transaction holds the write lock before it reads (BEGIN IMMEDIATE, see
        # ProjectStore.transaction), so a concurrent commit cannot invalidate the snapshot the
        # high-water mark is read from (https://www.sqlite.org/rescode.html#busy_snapshot).
        db.execute(
            "INSERT INTO meta(key, value) VALUES (?, '0') ON CONFLICT(key) DO NOTHING", [_HWM_KEY]
        )
        hwm = int(db.execute("SELECT value FROM meta WHERE key = ?", [_HWM_KEY]).fetchone()[0])
        top = db.execute("SELECT coalesce(max(rowid), 0) FROM embeddings").fetchone()[0]
        base = max(hwm, int(top))
        # Explicit, ever-increasing rowids: SQLite reuses max(rowid)+1 after deletes, and a
        # reused rowid would look unchanged to a VectorIndex refreshing by rowid.
        values = []
        for i, row in enumerate(rows):
            head = (base + 1 + i, model_id, dim, row.vector, row.text_hash)
            values.append((*head, row.ref) if kind == "chunk" else (*head, int(row.ref), row.text))
        if kind == "chunk":
            sql = (
                "INSERT OR REPLACE INTO embeddings "
                "(rowid, kind, ref, doc_id, model, dim, vector, text_hash) "
                "SELECT ?, 'chunk', c.id, c.doc_id, ?, ?, ?, ? FROM chunks c WHERE c.id = ?"
            )
        else:
            sql = (
                "INSERT OR REPLACE INTO embeddings "
                "(rowid, kind, ref, doc_id, model, dim, vector, text_hash) "
                "SELECT ?, 'node', CAST(n.id AS TEXT), n.doc_id, ?, ?, ?, ? FROM nodes n "
                "WHERE n.id = ? AND n.text = ?"
            )
        before = db.conn.total_changes
        db.conn.executemany(sql, values)
        written = db.conn.total_changes - before
        db.execute("UPDATE meta SET value = ? WHERE key = ?", [str(base + len(values)), _HWM_KEY])
    return written


def prune_orphans(store: ProjectStore) -> int:
    """Delete vectors (of any model) whose chunk or node no longer exists; returns how many.
    Found by a read-only scan, deleted in small transactions that re-check the condition."""
    rowids = [r[0] for r in store.db.execute(f"SELECT e.rowid FROM embeddings e WHERE {_ORPHAN}")]
    removed = 0
    for start in range(0, len(rowids), _PAGE):
        part = rowids[start : start + _PAGE]
        marks = ",".join("?" * len(part))
        with store.transaction():
            cur = store.db.execute(
                f"DELETE FROM embeddings AS e WHERE e.rowid IN ({marks}) AND {_ORPHAN}", part
            )
            removed += cur.rowcount
    return removed


# ---------------------------------------------------------------------------------- reads
def count_vectors(store: ProjectStore, model_id: str) -> int:
    """How many vectors of `model_id` are stored."""
    sql = "SELECT count(*) FROM embeddings WHERE model = ?"
    return int(store.db.execute(sql, [model_id]).fetchone()[0])


def data_stamp(store: ProjectStore) -> tuple[int, int]:
    """Changes whenever any connection (this one included) commits a change to the database:
    SQLite's data_version plus this connection's change count. Cheap (one PRAGMA)."""
    conn = store.db.conn
    return int(conn.execute("PRAGMA data_version").fetchone()[0]), conn.total_changes


def model_extent(store: ProjectStore, model_id: str) -> tuple[int, int]:
    """(how many vectors of `model_id`, their highest rowid)."""
    count, top = store.db.execute(
        "SELECT count(*), coalesce(max(rowid), 0) FROM embeddings WHERE model = ?", [model_id]
    ).fetchone()
    return int(count), int(top)


def vector_page(
    store: ProjectStore,
    model_id: str,
    *,
    after: int,
    limit: int,
    rowids: Sequence[int] | None = None,
) -> list[tuple[int, str, str, int, bytes, str]]:
    """Vectors of `model_id` with rowid > `after` (and, given `rowids`, only those), in rowid
    order: (rowid, kind, ref, dim, vector bytes, doc_id)."""
    only = f" AND rowid IN ({','.join('?' * len(rowids))})" if rowids is not None else ""
    # `+model`: walk the table in rowid order instead of the (model, kind) index, so each
    # page is a range scan, not a sort of every row of the model.
    rows = store.db.execute(
        "SELECT rowid, kind, ref, dim, vector, doc_id FROM embeddings WHERE +model = ? "
        f"AND rowid > ?{only} ORDER BY rowid LIMIT ?",
        [model_id, after, *(rowids or ()), limit],
    ).fetchall()
    return [tuple(r) for r in rows]


def vector_rowids(store: ProjectStore, model_id: str) -> list[int]:
    """The rowids of every vector of `model_id`."""
    sql = "SELECT rowid FROM embeddings WHERE model = ?"
    return [int(r[0]) for r in store.db.execute(sql, [model_id])]


def existing(
    store: ProjectStore, chunk_ids: Sequence[str], node_ids: Sequence[int]
) -> set[tuple[ItemKind, str]]:
    """Which of these chunks and nodes still exist, as (kind, ref) pairs."""
    alive: set[tuple[ItemKind, str]] = set()
    queries: tuple[tuple[ItemKind, Sequence[str | int], str], ...] = (
        ("chunk", chunk_ids, "SELECT id FROM chunks WHERE id IN ({})"),
        ("node", node_ids, "SELECT id FROM nodes WHERE id IN ({})"),
    )
    for kind, refs, sql in queries:
        for start in range(0, len(refs), _PAGE):
            part = list(refs[start : start + _PAGE])
            q = sql.format(",".join("?" * len(part)))
            alive.update((kind, str(r[0])) for r in store.db.execute(q, part))
    return alive
