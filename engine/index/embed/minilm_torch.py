"""all-MiniLM-L6-v2 through sentence-transformers on torch: the reference implementation, and
the way to a GPU. Imports torch only when one is created."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.errors import BackendUnavailable
from engine.index.embed import F32
from engine.index.embed.minilm import MiniLM, model_folder, model_meta
from engine.index.embed.wordpiece import WordPieces

__all__ = ["TorchMiniLM"]


class TorchMiniLM(MiniLM):
    """all-MiniLM-L6-v2 through sentence-transformers on torch (`load_model(device=...)`).

    A lock serializes `embed`: one torch model is not used from two threads at once."""

    def __init__(self, *, device: str = "cpu", batch_size: int = 32) -> None:
        folder = model_folder()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendUnavailable(
                "the torch embedder needs torch and sentence-transformers "
                f"({exc.name} is missing); install them, or use the numpy embedder "
                "(load_embedder(prefer='numpy'))"
            ) from exc
        try:
            # Everything is on disk. local_files_only is the library's per-call switch: it
            # never reaches for the Hugging Face hub (which would time out on an offline
            # laptop), and, unlike HF_HUB_OFFLINE, it leaves the rest of the process alone.
            self._model: Any = SentenceTransformer(
                str(folder), device=device, local_files_only=True
            )
        except Exception as exc:  # torch raises a zoo of types for a bad device or file
            raise BackendUnavailable(
                f"cannot load the embedding model on {device!r} with torch: {exc}"
            ) from exc
        dim, max_tokens = model_meta(folder)
        self._model.max_seq_length = max_tokens
        self._dim, self._max_tokens = dim, max_tokens
        self._pieces = WordPieces(folder / "tokenizer.json", max_tokens=max_tokens)
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
