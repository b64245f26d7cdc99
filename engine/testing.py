"""Public test seams, like httpx's `MockTransport`: deterministic stand-ins for the two models
Tomes runs, so tests (ours and yours) never patch internals.

    FakeBackend     a real `Backend`, registered as backend "fake": it answers by quoting the
                    context item that shares the most words with the question, citing its key
    HashEmbedder    a dependency-free `Embedder`: a hashed bag of lowercase words
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from engine.index.embed import F32, normalize
from engine.llm.backends.fake import FakeBackend

__all__ = ["FakeBackend", "HashEmbedder"]

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
        return normalize(out)

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
