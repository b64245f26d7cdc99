"""Pack ranked context items into a token budget: choose what fits (headers paid for), mint
the citation keys c1…, and order the items, most relevant at the edges.

Models attend best to the start and end of a long context ("lost in the middle", Liu et al.
2023), so after choosing the items that fit, the best goes first, the second best last, the
third second, and so on, with the weakest in the middle.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from engine.llm.prompts import item_header
from engine.types import ContextItem, ItemRef, StoredChunk, SummaryNode

__all__ = [
    "Count",
    "Order",
    "chunk_item",
    "edge_order",
    "node_item",
    "pack",
    "select_within_budget",
    "to_items",
]

Count = Callable[[str], int]
#: How packed items are ordered: best at both ends ("edges", lost-in-the-middle), in reading
#: order ("document"), or best first ("rank").
Order = Literal["edges", "document", "rank"]

T = TypeVar("T")


def select_within_budget(ranked: Sequence[T], budget: int, cost: Callable[[T], int]) -> list[T]:
    """The items, best first, that fit in `budget` (skipping any too big to fit, so a long
    item never crowds out several shorter relevant ones). Never exceeds the budget."""
    chosen: list[T] = []
    used = 0
    for item in ranked:
        c = cost(item)
        if c <= 0:
            continue
        if used + c <= budget:
            chosen.append(item)
            used += c
    return chosen


def edge_order(items: Sequence[T]) -> list[T]:
    """Reorder best-first items so the best sit at both ends: [1, 3, 5, …, 6, 4, 2]."""
    front = list(items[0::2])
    back = list(items[1::2])
    return front + back[::-1]


def to_items(
    chunks: Sequence[tuple[StoredChunk, float]],
    budget: int,
    *,
    count: Count | None = None,
    order: Order = "edges",
) -> list[ContextItem]:
    """Mint keys for ranked chunks and pack them into `budget` tokens (header included).

    `count` measures text with the answering model's tokenizer; without it the stored cl100k
    counts are used (retrieve-only)."""
    items = [chunk_item(c, s) for c, s in chunks]
    return pack(items, budget, count=count, order=order)


def chunk_item(chunk: StoredChunk, score: float) -> ContextItem:
    return ContextItem(
        key="",
        chunk_id=chunk.id,
        document=chunk.document,
        locator=chunk.locator,
        text=chunk.text,
        n_tokens=chunk.n_tokens,
        level=0,
        score=score,
        doc_id=chunk.doc_id,
    )


def node_item(node: SummaryNode, document: str, score: float = 0.0) -> ContextItem:
    return ContextItem(
        key="",
        chunk_id=ItemRef.node(node.id).key,
        document=document,
        locator=node.locator,
        text=node.text,
        n_tokens=node.n_tokens,
        level=node.level,
        score=score,
        doc_id=node.doc_id,
    )


def pack(
    items: Sequence[ContextItem],
    budget: int,
    *,
    count: Count | None = None,
    order: Order = "edges",
    headers: bool = True,
) -> list[ContextItem]:
    """Choose the best items that fit, mint keys c1… in rank order, then order them.

    The budget pays for each item's header line too (`headers=False` counts the text alone,
    the definition other tools' benchmarks use)."""

    def cost(item: ContextItem) -> int:
        if not headers:
            return count(item.text) if count is not None else item.n_tokens
        header = item_header("c00", item.document, item.locator.label() + " (summary)")
        if count is None:
            return item.n_tokens + len(header) // 3 + 2
        return count(header + "\n" + item.text + "\n")

    chosen = select_within_budget(items, budget, cost)
    left = budget - sum(cost(it) for it in chosen)
    if left >= _MIN_FILL:
        # Fill the rest of the budget with the beginning of the best item that did not fit.
        taken = {id(it) for it in chosen}
        for item in items:
            if id(item) in taken:
                continue
            part = _truncate(item, left, cost)
            if part is not None:
                chosen.append(part)
            break
    keyed = [dataclasses.replace(it, key=f"c{i}") for i, it in enumerate(chosen, start=1)]
    return edge_order(keyed) if order == "edges" else keyed


_MIN_FILL = 48  # a shorter remainder is not worth a header
_CUT = re.compile(r"(?<=[.;:!?])\s|\n")


def _truncate(
    item: ContextItem, budget: int, cost: Callable[[ContextItem], int]
) -> ContextItem | None:
    """The longest prefix of `item` (cut after a sentence or line, else a word) that fits."""
    cuts = [m.start() for m in _CUT.finditer(item.text)] or [
        m.start() for m in re.finditer(r"\s", item.text)
    ]
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        text = item.text[: cuts[mid]].rstrip() + " …"
        candidate = dataclasses.replace(
            item, text=text, n_tokens=max(1, item.n_tokens * cuts[mid] // max(1, len(item.text)))
        )
        if cost(candidate) <= budget:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best
