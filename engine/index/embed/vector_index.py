"""`VectorIndex`: brute-force cosine search over one model's stored vectors, kept in memory
and refreshed incrementally from the `embeddings` table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from engine.index.embed import F32
from engine.store import vectors
from engine.types import ItemKind

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = ["KINDS", "VectorIndex"]

KINDS: tuple[ItemKind, ...] = ("chunk", "node")
_DEAD = 255  # a loaded vector whose chunk or node is gone
_SCAN_PAGE = 512  # rows per keyset page when loading by rowid


class VectorIndex:
    """Brute-force cosine search over one model's stored vectors (fine to ~1M vectors).

    Vectors are loaded on first use and refreshed before each search by reading only rows
    added since (rows deleted meanwhile are dropped by a rowid diff). Uses `store`'s
    connection, so it belongs to the store's thread; `use()` moves it to another store of
    the same project (e.g. the next request's), keeping what is loaded: keep one index per
    project rather than one per question, since a first load reads every vector (~1 s per
    100k). Measured at 100k vectors on 2 cores: ~5 ms a search with float32; `dtype=
    np.float16` halves memory (1M × 384 vectors: 768 MB instead of 1.5 GB) at a ~1e-3 cost
    in cosine, but searches ~10x slower (numpy converts float16 blocks to float32 to use BLAS).
    """

    def __init__(
        self, store: ProjectStore, model_id: str, *, dtype: npt.DTypeLike = np.float32
    ) -> None:
        self._store = store
        self._model_id = model_id
        self._dtype = np.dtype(dtype)
        if self._dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
            raise ValueError(f"dtype must be float32 or float16 (got {self._dtype})")
        self._dim = 0
        self._n = 0  # vectors loaded (a row may hold several: a chunk's sentence windows)
        self._rows = 0  # table rows they came from
        self._matrix = np.empty((0, 0), dtype=self._dtype)
        self._rowids = np.empty(0, dtype=np.int64)
        self._kinds = np.empty(0, dtype=np.uint8)  # index into KINDS, or _DEAD
        self._refs: list[str] = []
        self._docs: list[str] = []  # each row's document, for searches within documents
        self._max_rowid = 0
        self._stamp: tuple[int, int] | None = None

    def __len__(self) -> int:
        self.refresh()
        return self._n

    def use(self, store: ProjectStore) -> None:
        """Read through `store` (another connection to the same project) from now on."""
        self._store = store
        self._stamp = None

    # -- loading
    def refresh(self) -> None:
        """Bring the in-memory matrix up to date with the table (cheap when nothing changed:
        one PRAGMA)."""
        stamp = vectors.data_stamp(self._store)
        if stamp == self._stamp:
            return
        with self._store.snapshot():  # one consistent view for the counts and the rows
            count, top = vectors.model_extent(self._store, self._model_id)
            if count != self._rows or top != self._max_rowid:
                self._reserve(count)
                self._load(after=self._max_rowid)
                if self._rows != count:  # rows were deleted or replaced meanwhile
                    self._reconcile()
                self._max_rowid = int(top)
        self._stamp = stamp

    def _reserve(self, rows: int) -> None:
        """Room for `rows` vectors (geometric growth: appends while embedding stay cheap)."""
        if rows <= len(self._rowids):
            return
        cap = max(rows, 2 * len(self._rowids), 1024)
        rowids = np.empty(cap, dtype=np.int64)
        rowids[: self._n] = self._rowids[: self._n]
        kinds = np.empty(cap, dtype=np.uint8)
        kinds[: self._n] = self._kinds[: self._n]
        self._rowids, self._kinds = rowids, kinds
        if self._dim:
            grown = np.empty((cap, self._dim), dtype=self._dtype)
            grown[: self._n] = self._matrix[: self._n]
            self._matrix = grown

    def _load(self, *, after: int = -1, rowids: Sequence[int] | None = None) -> int:
        """Append the vectors after rowid `after` (or those among `rowids`), one page at a
        time; returns how many."""
        added = 0
        while True:
            rows = vectors.vector_page(
                self._store, self._model_id, after=after, limit=4096, rowids=rowids
            )
            if not rows:
                return added
            after = rows[-1][0]
            if self._dim == 0:
                self._dim = int(rows[0][3])
                self._matrix = np.empty((len(self._rowids), self._dim), dtype=self._dtype)
            if any(r[3] != self._dim for r in rows):
                raise ValueError(
                    f"embeddings of {self._model_id!r} have mixed dimensions; delete them "
                    "and embed again"
                )
            # A row holds one vector, or several (a chunk's sentence windows, see
            # engine.index.embed.pending): each becomes its own entry under the row's ref.
            per_row = [len(r[4]) // (4 * self._dim) for r in rows]
            n, end = sum(per_row), self._n + sum(per_row)
            self._reserve(end)
            self._matrix[self._n : end] = np.frombuffer(
                b"".join(r[4] for r in rows), dtype="<f4"
            ).reshape(n, self._dim)
            self._rowids[self._n : end] = np.repeat([r[0] for r in rows], per_row)
            self._kinds[self._n : end] = np.repeat([KINDS.index(r[1]) for r in rows], per_row)
            self._refs[self._n :] = [
                r[2] for r, k in zip(rows, per_row, strict=True) for _ in range(k)
            ]
            self._docs[self._n :] = [
                r[5] for r, k in zip(rows, per_row, strict=True) for _ in range(k)
            ]
            self._n = end
            self._rows += len(rows)
            added += len(rows)

    def _reconcile(self) -> None:
        """Rows were deleted (or replaced): keep the loaded rows still present, load the rest."""
        present = np.asarray(vectors.vector_rowids(self._store, self._model_id), dtype=np.int64)
        keep = np.flatnonzero(np.isin(self._rowids[: self._n], present))
        n = len(keep)
        self._matrix[:n] = self._matrix[keep]
        self._rowids[:n] = self._rowids[keep]
        self._kinds[:n] = self._kinds[keep]
        self._refs = [self._refs[i] for i in keep]
        self._docs = [self._docs[i] for i in keep]
        self._n = n
        self._rows = len(np.unique(self._rowids[:n]))
        missing = np.setdiff1d(present, self._rowids[:n])
        for start in range(0, len(missing), _SCAN_PAGE):
            self._load(rowids=[int(x) for x in missing[start : start + _SCAN_PAGE]])

    # -- searching
    def search(
        self,
        query_vec: npt.ArrayLike,
        *,
        k: int,
        kind: ItemKind | None = None,
        doc_ids: Sequence[str] | None = None,
    ) -> list[tuple[ItemKind, str, float]]:
        """The `k` stored items most similar to `query_vec`: (kind, ref, cosine), best first.
        An item with several vectors (a chunk's sentence windows) scores its best one.
        `kind` = "chunk" or "node" restricts the search; `doc_ids` keeps only vectors of those
        documents. Rows whose chunk or node no longer exists are skipped (and remembered as
        dead until the next refresh drops them)."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)} or None (got {kind!r})")
        self.refresh()
        if k <= 0 or self._n == 0:
            return []
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        if q.shape[0] != self._dim:
            raise ValueError(f"query has {q.shape[0]} dimensions, the index {self._dim}")
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        scores = self._scores(q)
        kinds = self._kinds[: self._n]
        if kind is None:
            scores[kinds == _DEAD] = -np.inf
        else:
            scores[kinds != KINDS.index(kind)] = -np.inf
        if doc_ids is not None:
            wanted = set(doc_ids)
            outside = np.fromiter((d not in wanted for d in self._docs[: self._n]), dtype=bool)
            scores[outside] = -np.inf
        found: list[tuple[ItemKind, str, float]] = []
        seen: set[tuple[ItemKind, str]] = set()
        want = k + 8
        while len(found) < k:
            top = _top(scores, want)
            if len(top) == 0:
                break
            hits = [(KINDS[kinds[i]], self._refs[i], float(scores[i])) for i in top]
            alive = self._existing(hits)
            for i, hit in zip(top, hits, strict=True):
                if (hit[0], hit[1]) in seen:
                    pass  # a lower-scoring vector of an item already found
                elif (hit[0], hit[1]) in alive:
                    seen.add((hit[0], hit[1]))
                    found.append(hit)
                else:
                    kinds[i] = _DEAD  # its chunk or node is gone: never check it again
                scores[i] = -np.inf  # looked at: the next round takes the following ones
            want *= 2
        found.sort(key=lambda h: -h[2])
        return found[:k]

    def _scores(self, q: F32) -> F32:
        if self._dtype == np.float32:
            return self._matrix[: self._n] @ q
        out = np.empty(self._n, dtype=np.float32)
        step = 16384  # convert float16 in blocks: numpy has no float16 BLAS
        for a in range(0, self._n, step):
            out[a : a + step] = self._matrix[a : min(a + step, self._n)].astype(np.float32) @ q
        return out

    def _existing(self, hits: list[tuple[ItemKind, str, float]]) -> set[tuple[ItemKind, str]]:
        chunk_refs = [ref for kind, ref, _ in hits if kind == "chunk"]
        node_refs = [int(ref) for kind, ref, _ in hits if kind == "node"]
        return vectors.existing(self._store, chunk_refs, node_refs)


def _top(scores: F32, n: int) -> npt.NDArray[np.intp]:
    """Indices of the `n` highest finite scores, best first."""
    n = min(n, len(scores))
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    idx = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    idx = idx[np.isfinite(scores[idx])]
    return idx[np.argsort(-scores[idx], kind="stable")]
