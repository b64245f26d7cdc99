"""Embed what a project lacks: every chunk without a vector and every summary node without
a current one, batch by batch, resumable and cancellable.

What is stored (rows in `engine.store.vectors`): one row per (kind, ref, model), a float32
L2-normalized vector and a short sha1 of the exact text embedded. A node rewritten since it
was embedded has a different hash and is embedded again; a chunk's text never changes under
its id (ids are content addressed: document sha256 + ordinal), so chunks are only checked for
presence. Deleting a document deletes its rows there (the store deletes from every table with
a `doc_id`); vectors of nodes deleted by other means are pruned by the next `embed_pending`
and never returned by `VectorIndex.search`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import Cancelled
from engine.index.embed import (
    DEFAULT_WINDOWS,
    F32,
    Embedder,
    chunk_input,
    embed_texts,
    text_hash,
)
from engine.store import vectors
from engine.types import ItemKind

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = ["embed_pending", "pending"]

_SCAN_PAGE = 512  # nodes per page when counting what is pending


def pending(store: ProjectStore, model_id: str) -> int:
    """How many chunks and summary nodes lack a current vector of `model_id`: chunks with no
    vector, nodes with none or one of other text (rewritten since)."""
    n = vectors.missing_chunk_count(store, model_id)
    after = 0
    while page := vectors.node_hashes(store, model_id, after=after, limit=_SCAN_PAGE):
        n += sum(1 for _, text, h in page if h != text_hash(text))
        after = page[-1][0]
    return n


def _write(
    store: ProjectStore,
    kind: ItemKind,
    items: Sequence[tuple[str | int, str]],
    vecs: F32,
    model_id: str,
) -> int:
    """Store one batch of (ref, text embedded) with their vectors (see
    `store.vectors.write_vectors`); returns how many rows were written."""
    rows = [
        vectors.VectorRow(ref, text, text_hash(text), np.asarray(vec, dtype="<f4").tobytes())
        for (ref, text), vec in zip(items, vecs, strict=True)
    ]
    return vectors.write_vectors(store, kind, rows, model_id=model_id, dim=int(vecs.shape[1]))


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
    batch; when set, `Cancelled` is raised after the last committed batch (the current batch,
    if one is being embedded, is finished and stored first), as every long job does.

    `total` is counted at the start; items added meanwhile are embedded too and raise it so
    that done ≤ total always holds; both only grow. Items deleted meanwhile are skipped, so
    a run may end with done < total.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
    model_id = embedder.model_id
    vectors.prune_orphans(store)
    total = pending(store, model_id)
    done = 0

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled(
                f"embedding stopped after {done} of {total} passages and summaries; "
                "it resumes the next time indexing starts"
            )

    after = 0
    while True:
        check()
        rows = vectors.missing_chunks(store, model_id, after=after, limit=batch_size)
        if not rows:
            break
        after = rows[-1][0]
        items: list[tuple[str | int, str]] = [
            (cid, chunk_input(text, heads)) for _, cid, text, heads in rows
        ]
        vecs = embed_texts(embedder, [t for _, t in items], windows=windows)
        _write(store, "chunk", items, vecs, model_id)
        done += len(rows)
        total = max(total, done)
        yield done, total

    after = 0
    exhausted = False
    while not exhausted:
        check()
        batch: list[tuple[str | int, str]] = []
        while len(batch) < batch_size:
            page = vectors.node_hashes(store, model_id, after=after, limit=batch_size)
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
        vecs = embedder.embed([t for _, t in batch])  # summaries are short: one window
        _write(store, "node", batch, vecs, model_id)
        done += len(batch)
        total = max(total, done)
        yield done, total
