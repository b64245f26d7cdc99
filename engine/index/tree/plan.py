"""The summary tree's plan: every node the tree should have, derived deterministically from
the project's chunks (no text is read, so planning is cheap).

Level-1 nodes cover runs of consecutive chunks of one document (breaking at top-level
sections), level-n nodes cover runs of level-(n-1) nodes, up to one root per document; corpus
nodes (doc_id '') cover runs of document roots, up to one corpus root.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.store import nodes as nodes_rows
from engine.store.db import ProjectStore
from ingest.types import Locator

__all__ = ["PlannedNode", "plan_tree"]


@dataclass(frozen=True, slots=True)
class _ChunkRow:
    id: str
    ordinal: int
    n_tokens: int
    section: str  # top-level heading, for breaking groups at sections
    locator: Locator


@dataclass(frozen=True, slots=True)
class PlannedNode:
    """A node the tree should have. `children` are chunk ids (level 1), or the (doc_id, level,
    ordinal) keys of child nodes."""

    doc_id: str
    level: int
    ordinal: int
    children: tuple[Any, ...]
    chunk_start: int
    chunk_end: int
    locator: Locator
    is_root: bool = False

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.doc_id, self.level, self.ordinal)


def _group(
    items: Sequence[Any], fanout: int, breaks: Sequence[bool] | None = None
) -> list[list[Any]]:
    """Split into runs of at most `fanout`; a `breaks[i]` (a new section starts at i) ends the
    current run early once it is at least half full, so nodes follow the document's sections."""
    groups: list[list[Any]] = []
    current: list[Any] = []
    for i, item in enumerate(items):
        new_section = bool(breaks and breaks[i])
        if current and (len(current) >= fanout or (new_section and len(current) >= fanout / 2)):
            groups.append(current)
            current = []
        current.append(item)
    if current:
        groups.append(current)
    # Avoid a tiny last group: merge it into the previous one when that still fits loosely.
    if (
        len(groups) > 1
        and len(groups[-1]) < max(2, fanout // 3)
        and len(groups[-2]) + len(groups[-1]) <= fanout + fanout // 2
    ):
        groups[-2].extend(groups.pop())
    return groups


def _doc_chunks(store: ProjectStore) -> dict[str, list[_ChunkRow]]:
    out: dict[str, list[_ChunkRow]] = {}
    for row in nodes_rows.chunk_spans(store):
        path = row.locator.heading_path
        out.setdefault(row.doc_id, []).append(
            _ChunkRow(row.id, row.ordinal, row.n_tokens, path[0] if path else "", row.locator)
        )
    return out


def _span(locs: Sequence[Locator]) -> Locator:
    loc = locs[0]
    for other in locs[1:]:
        loc = loc.merge(other)
    return Locator(
        doc_id=loc.doc_id,
        page=loc.page,
        page_end=loc.page_end,
        line_start=loc.line_start,
        line_end=loc.line_end,
        paragraph=loc.paragraph,
        paragraph_end=loc.paragraph_end,
    )


def plan_tree(store: ProjectStore, *, fanout: int) -> list[PlannedNode]:
    """Every node the tree should have, children before parents (level order)."""
    plan: list[PlannedNode] = []
    doc_roots: list[PlannedNode] = []
    for doc_id, chunks in _doc_chunks(store).items():
        breaks = [i > 0 and c.section != chunks[i - 1].section for i, c in enumerate(chunks)]
        level_nodes = [
            PlannedNode(
                doc_id,
                1,
                i,
                tuple(c.id for c in g),
                g[0].ordinal,
                g[-1].ordinal,
                _span([c.locator for c in g]),
            )
            for i, g in enumerate(_group(chunks, fanout, breaks))
        ]
        level = 1
        while len(level_nodes) > 1:
            plan.extend(level_nodes)
            level += 1
            level_nodes = [
                PlannedNode(
                    doc_id,
                    level,
                    i,
                    tuple(n.key for n in g),
                    g[0].chunk_start,
                    g[-1].chunk_end,
                    _span([n.locator for n in g]),
                )
                for i, g in enumerate(_group(level_nodes, fanout))
            ]
        root = dataclasses.replace(level_nodes[0], is_root=True)
        plan.append(root)
        doc_roots.append(root)
    if len(doc_roots) > 1:
        level = max(r.level for r in doc_roots)
        nodes = doc_roots
        while len(nodes) > 1:
            level += 1
            nodes = [
                PlannedNode("", level, i, tuple(n.key for n in g), 0, 0, Locator())
                for i, g in enumerate(_group(nodes, fanout))
            ]
            plan.extend(nodes)
        plan[-1] = dataclasses.replace(plan[-1], is_root=True)
    plan.sort(key=lambda n: (n.level, n.doc_id == "", n.doc_id, n.ordinal))
    return plan
