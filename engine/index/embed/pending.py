"""Embed what a project lacks: every chunk without a vector and every summary node without
a current one, batch by batch, resumable and cancellable.

What is stored. One row per (kind, ref, model) in `embeddings`: chunks (ref = chunk id) and
summary nodes (ref = str(node id)), a float32 L2-normalized vector and a short sha1 of the exact
text embedded. A node rewritten since it was embedded has a different hash and is embedded
again; a chunk's text never changes under its id (ids are content addressed: document sha256 +
ordinal), so chunks are only checked for presence. Deleting a document deletes its rows here
(the store deletes from every table with a `doc_id`); vectors of nodes deleted by other means
are pruned by the next `embed_pending` and never returned by `VectorIndex.search`.

All writes to `embeddings` go through here: rows get strictly increasing rowids (a high-water
mark kept in `meta`), which is what lets a `VectorIndex` refresh by reading only rows it has
not seen.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.index.embed import (
    DEFAULT_WINDOWS,
    F32,
    Embedder,
    chunk_input,
    embed_texts,
    text_hash,
)

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = ["embed_pending", "pending"]

_HWM_KEY = "embeddings.rowid_hwm"
_SCAN_PAGE = 512  # rows per keyset page when scanning (nodes, pruning)


_CHUNK_MISSING = (
    "NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.kind = 'chunk' AND e.ref = c.id "
    "AND e.model = ?)"
)
_NODE_PAGE = (
    "SELECT n.id, n.text, e.text_hash FROM nodes n LEFT JOIN embeddings e "
    "ON e.kind = 'node' AND e.ref = CAST(n.id AS TEXT) AND e.model = ? "
    "WHERE n.id > ? ORDER BY n.id LIMIT ?"
)


def _stale_nodes(store: ProjectStore, model_id: str, after: int, limit: int) -> list[Any]:
    """(id, text, stored hash or None) for the next `limit` nodes after id `after`."""
    return store.db.execute(_NODE_PAGE, [model_id, after, limit]).fetchall()


def pending(store: ProjectStore, model_id: str) -> int:
    """How many chunks and summary nodes lack a current vector of `model_id`: chunks with no
    vector, nodes with none or one of other text (rewritten since)."""
    n = int(
        store.db.execute(
            f"SELECT count(*) FROM chunks c WHERE {_CHUNK_MISSING}", [model_id]
        ).fetchone()[0]
    )
    after = 0
    while page := _stale_nodes(store, model_id, after, _SCAN_PAGE):
        n += sum(1 for _, text, h in page if h != text_hash(text))
        after = page[-1][0]
    return n


# ---------------------------------------------------------------------------- writing
def _write(
    store: ProjectStore,
    kind: str,
    items: Sequence[tuple[str | int, str]],
    vectors: F32,
    model_id: str,
) -> int:
    """Store one batch of vectors in one transaction; returns how many rows were written.

    A row is written only if its chunk (or its node, with the same text) still exists at
    commit time: another thread may have deleted the document, or rewritten the node, while
    this batch was being embedded, and a vector must never outlive its source.
    """
    dim = int(vectors.shape[1])
    with store.transaction():
        # Write first: the transaction then holds the write lock before it reads, so a
        # concurrent commit cannot invalidate its snapshot (SQLITE_BUSY_SNAPSHOT, which
        # busy_timeout does not retry).
        store.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, '0') ON CONFLICT(key) DO NOTHING", [_HWM_KEY]
        )
        hwm = int(
            store.db.execute("SELECT value FROM meta WHERE key = ?", [_HWM_KEY]).fetchone()[0]
        )
        top = store.db.execute("SELECT coalesce(max(rowid), 0) FROM embeddings").fetchone()[0]
        base = max(hwm, int(top))
        # Explicit, ever-increasing rowids: SQLite reuses max(rowid)+1 after deletes, and a
        # reused rowid would look unchanged to a VectorIndex refreshing by rowid.
        rows: list[tuple[Any, ...]] = []
        for i, ((ref, text), vec) in enumerate(zip(items, vectors, strict=True)):
            blob = np.asarray(vec, dtype="<f4").tobytes()
            head = (base + 1 + i, model_id, dim, blob, text_hash(text))
            rows.append((*head, ref) if kind == "chunk" else (*head, int(ref), text))
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
        before = store.db.conn.total_changes
        store.db.conn.executemany(sql, rows)
        written = store.db.conn.total_changes - before
        store.db.execute(
            "UPDATE meta SET value = ? WHERE key = ?", [str(base + len(rows)), _HWM_KEY]
        )
    return written


def _prune_orphans(store: ProjectStore) -> int:
    """Delete vectors (of any model) whose chunk or node no longer exists; returns how many.
    Found by a read-only scan, deleted in small transactions that re-check the condition."""
    orphan = (
        "((e.kind = 'chunk' AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.id = e.ref)) OR "
        "(e.kind = 'node' AND NOT EXISTS "
        "(SELECT 1 FROM nodes n WHERE n.id = CAST(e.ref AS INTEGER))))"
    )
    rowids = [r[0] for r in store.db.execute(f"SELECT e.rowid FROM embeddings e WHERE {orphan}")]
    removed = 0
    for start in range(0, len(rowids), _SCAN_PAGE):
        part = rowids[start : start + _SCAN_PAGE]
        marks = ",".join("?" * len(part))
        with store.transaction():
            cur = store.db.execute(
                f"DELETE FROM embeddings AS e WHERE e.rowid IN ({marks}) AND {orphan}", part
            )
            removed += cur.rowcount
    return removed


def embed_pending(
    store: ProjectStore,
    embedder: Embedder,
    *,
    batch_size: int = 32,
    windows: int = DEFAULT_WINDOWS,
    cancel: threading.Event | None = None,
) -> Iterator[tuple[int, int]]:
    """Embed every chunk and node that lacks a current vector, yielding (done, total) after
    each batch of `batch_size` items.

    Memory stays flat in corpus size: texts are read one keyset page at a time, and each
    batch is committed in its own short transaction (keyword search and ingest go on
    meanwhile; no transaction is held across batches or across a `yield`). Chunks come first
    (in insertion order), then nodes.

    Resumable: what was committed is not embedded again, so calling this again after a crash
    or a cancel continues where it stopped. Cancellable: `cancel` is checked before each
    batch; when set, the generator returns quietly after the last committed batch (the
    current batch, if one is being embedded, is finished and stored first).

    `total` is counted at the start; items added meanwhile are embedded too and raise it so
    that done ≤ total always holds; both only grow. Items deleted meanwhile are skipped, so
    a run may end with done < total.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
    model_id = embedder.model_id
    _prune_orphans(store)
    total = pending(store, model_id)
    done = 0

    def stopped() -> bool:
        return cancel is not None and cancel.is_set()

    after = 0
    while not stopped():
        rows = store.db.execute(
            f"SELECT c.rowid, c.id, c.text, c.heading_path FROM chunks c "
            f"WHERE c.rowid > ? AND {_CHUNK_MISSING} ORDER BY c.rowid LIMIT ?",
            [after, model_id, batch_size],
        ).fetchall()
        if not rows:
            break
        after = rows[-1][0]
        items = [(cid, chunk_input(text, json.loads(heads))) for _, cid, text, heads in rows]
        vectors = embed_texts(embedder, [t for _, t in items], windows=windows)
        _write(store, "chunk", items, vectors, model_id)
        done += len(rows)
        total = max(total, done)
        yield done, total

    after = 0
    exhausted = False
    while not exhausted and not stopped():
        batch: list[tuple[str | int, str]] = []
        while len(batch) < batch_size:
            page = _stale_nodes(store, model_id, after, batch_size)
            if not page:
                exhausted = True
                break
            for node_id, text, h in page:
                after = node_id
                if h != text_hash(text):
                    batch.append((node_id, text))
                    if len(batch) == batch_size:
                        break
        if not batch:
            break
        vectors = embedder.embed([t for _, t in batch])  # summaries are short: one window
        _write(store, "node", batch, vectors, model_id)
        done += len(batch)
        total = max(total, done)
        yield done, total
