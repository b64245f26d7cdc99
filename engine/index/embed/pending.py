"""Embed what a project lacks: every chunk without a vector and every summary node without
a current one, batch by batch, resumable and cancellable.

What is stored (rows in `engine.store.vectors`): one row per (kind, ref, model), float32
L2-normalized vectors and a short sha1 of the exact text embedded. With `unit="windows"` (the
workspace's default, `retrieval.dense_unit`) a chunk's row holds one vector per sentence
window (engine.index.embed.windows), preceded, when there are several, by their word-weighted
mean: a `VectorIndex` scores the chunk by the best of them, so a one-sentence fact is not
diluted by the rest of its chunk and a clause spread over several sentences still matches as
a whole. Such rows are stored under `vector_model(model_id, "windows")`, never mixed with
one-vector-per-chunk rows.

A node rewritten since it was embedded has a different hash and is embedded again; a chunk's
text never changes under its id (ids are content addressed: document sha256 + ordinal), so
chunks are only checked for presence. Deleting a document deletes its rows there (the store
deletes from every table with a `doc_id`); vectors of nodes deleted by other means are pruned
by the next `embed_pending` and never returned by `VectorIndex.search`.
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
    DenseUnit,
    Embedder,
    chunk_input,
    embed_texts,
    normalize,
    text_hash,
    vector_model,
)
from engine.index.embed.windows import DEFAULT_WINDOW_WORDS, window_texts
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
    vecs: Sequence[F32],
    model_id: str,
) -> int:
    """Store one batch of (ref, text embedded) with their vectors, one (dim,) or (n, dim)
    array per item (see `store.vectors.write_vectors`); returns how many rows were written."""
    rows = [
        vectors.VectorRow(ref, text, text_hash(text), np.asarray(vec, dtype="<f4").tobytes())
        for (ref, text), vec in zip(items, vecs, strict=True)
    ]
    dim = int(np.asarray(vecs[0]).shape[-1]) if len(vecs) else 0
    return vectors.write_vectors(store, kind, rows, model_id=model_id, dim=dim)


def embed_windows(
    embedder: Embedder,
    chunks: Sequence[tuple[str, Sequence[str]]],
    *,
    max_words: int = DEFAULT_WINDOW_WORDS,
) -> list[F32]:
    """For each (text, heading path): its sentence windows' vectors, (n, dim), preceded by
    their word-weighted mean when n > 1. All windows of all chunks go to the model at once."""
    pieces: list[str] = []
    bounds: list[tuple[int, int]] = []
    for text, heads in chunks:
        parts = window_texts(text, heads, max_words=max_words)
        bounds.append((len(pieces), len(pieces) + len(parts)))
        pieces.extend(parts)
    flat = embedder.embed(pieces)
    weights = np.asarray([max(1, len(p.split())) for p in pieces], dtype=np.float32)
    out: list[F32] = []
    for a, b in bounds:
        block = flat[a:b]
        if b - a > 1:
            mean = normalize((block * weights[a:b, None]).sum(axis=0, keepdims=True))
            block = np.concatenate([mean, block])
        out.append(block)
    return out


def embed_pending(
    store: ProjectStore,
    embedder: Embedder,
    *,
    batch_size: int = 32,
    windows: int = DEFAULT_WINDOWS,
    unit: DenseUnit = "chunk",
    window_words: int = DEFAULT_WINDOW_WORDS,
    cancel: threading.Event | None = None,
) -> Iterator[tuple[int, int]]:
    """Embed every chunk and node that lacks a current vector, yielding (done, total) after
    each batch of `batch_size` items.

    `unit` = "windows": each chunk as its sentence windows of up to `window_words` words (see
    the module docstring); "chunk": one vector per chunk, read as up to `windows` model
    windows. The vectors are stored under `vector_model(embedder.model_id, unit)`.

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
    model_id = vector_model(embedder.model_id, unit)
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
        vecs: Sequence[F32]
        if unit == "windows":
            vecs = embed_windows(
                embedder, [(text, heads) for _, _, text, heads in rows], max_words=window_words
            )
        else:
            vecs = list(embed_texts(embedder, [t for _, t in items], windows=windows))
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
        # summaries are short: one window, one vector
        _write(store, "node", batch, list(embedder.embed([t for _, t in batch])), model_id)
        done += len(batch)
        total = max(total, done)
        yield done, total
