"""Fusing keyword and dense rankings."""

from __future__ import annotations

from engine.qa.fusion import rrf, score_fusion


def test_score_fusion_keeps_a_decisive_lead_that_rank_fusion_loses() -> None:
    # Keyword search: one chunk holds the rare name asked for, far ahead of the rest.
    keyword = [("needle", 25.0), ("other-needle", 6.0), ("essay", 5.5)]
    exact = [("needle", 20.0), ("other-needle", 6.5), ("essay", 5.0)]
    # Dense search: every needle sentence looks alike, so the one asked for sits far down
    # (as in the 128k-token needle benchmark, where RRF lost it).
    lookalikes = [(f"needle-{i}", 0.70 - i / 1000) for i in range(9)]
    dense = [("other-needle", 0.71), *lookalikes, ("needle", 0.68)]
    by_rank = rrf([[i for i, _ in r] for r in (keyword, exact, dense)], k=20)
    by_score = score_fusion([keyword, exact, dense])
    assert max(by_rank, key=by_rank.__getitem__) == "other-needle"
    assert max(by_score, key=by_score.__getitem__) == "needle"


def test_score_fusion_handles_flat_and_empty_lists() -> None:
    # A list with nothing to tell its items apart (one hit: the one definition of a symbol)
    # gives each full weight, rather than the 0 min-max scaling would give.
    fused = score_fusion([[], [("a", 1.0), ("b", 1.0)]])
    assert fused == {"a": 1.0, "b": 1.0}
    assert score_fusion([[("only", 3.2)], [("x", 2.0), ("only", 1.0)]]) == {"only": 1.0, "x": 1.0}
