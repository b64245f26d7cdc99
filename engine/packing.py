"""Pack ranked context items into a token budget, most relevant at the edges.

Models attend best to the start and end of a long context ("lost in the middle", Liu et al.
2023), so after choosing the items that fit, the best goes first, the second best last, the
third second, and so on, with the weakest in the middle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["edge_order", "select_within_budget"]

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
