"""Two ranking rules of HybridRetriever, on plain items: the dense leg's best chunk keeps
second place, and packing reads only the head of the ranking."""

from __future__ import annotations

from engine.qa.packing import pack
from engine.qa.retrieve import _lead_second, _packable
from engine.types import ContextItem
from ingest.types import Locator


def item(i: int, tokens: int = 400) -> ContextItem:
    return ContextItem("", f"d:{i}", "doc.txt", Locator(doc_id="d"), f"text {i}", tokens)


def test_the_dense_leader_moves_up_to_second_place_only() -> None:
    ranked = [item(i) for i in range(6)]
    assert [it.chunk_id for it in _lead_second(list(ranked), "d:4")] == [
        "d:0",
        "d:4",
        "d:1",
        "d:2",
        "d:3",
        "d:5",
    ]
    # already first or second, unknown, or none: unchanged
    for lead in ("d:0", "d:1", "d:9", None):
        assert _lead_second(list(ranked), lead) == ranked


def test_packing_reads_three_budgets_of_candidates_and_picks_the_same() -> None:
    ranked = [item(i) for i in range(150)]
    head = _packable(ranked, 2048)
    assert 8 <= len(head) < 20 and sum(it.n_tokens for it in head) > 3 * 2048
    assert _packable(ranked[:5], 2048) == ranked[:5]
    assert len(_packable([item(i, 10) for i in range(30)], 100)) == 30  # tiny: all of them
    full = pack(ranked, 2048, count=lambda t: 400)
    assert [it.chunk_id for it in pack(head, 2048, count=lambda t: 400)] == [
        it.chunk_id for it in full
    ]
