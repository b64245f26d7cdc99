"""Fusing rankings from several retrievers into one: reciprocal-rank fusion, or the sum of
min-max normalized scores."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal, TypeVar

__all__ = ["Fusion", "rrf", "score_fusion"]

#: "score": min-max normalized scores, summed (keeps how far ahead a list's best item is);
#: "rrf": reciprocal ranks.
Fusion = Literal["score", "rrf"]

Id = TypeVar("Id", bound=Hashable)


def rrf(rankings: Sequence[Sequence[Id]], *, k: int = 60) -> dict[Id, float]:
    """Reciprocal-rank fusion: each list adds 1 / (k + rank) for the ids it ranks."""
    scores: dict[Id, float] = {}
    for ranking in rankings:
        for rank, ident in enumerate(ranking):
            scores[ident] = scores.get(ident, 0.0) + 1.0 / (k + rank + 1)
    return scores


def score_fusion(rankings: Sequence[Sequence[tuple[Id, float]]]) -> dict[Id, float]:
    """Sum of each list's scores scaled to 0..1 (min-max): unlike rank fusion it keeps how
    far ahead a list's best item is, e.g. the one chunk holding a rare name.

    A list whose items all score the same (one hit, typically: the one definition of a
    symbol) gives each of them 1: min-max would give them 0, so the only answer a list has
    would count for nothing."""
    fused: dict[Id, float] = {}
    for ranking in rankings:
        if not ranking:
            continue
        scores = [s for _, s in ranking]
        lo, hi = min(scores), max(scores)
        for ident, score in ranking:
            fused[ident] = fused.get(ident, 0.0) + ((score - lo) / (hi - lo) if hi > lo else 1.0)
    return fused
