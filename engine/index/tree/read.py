"""Reading the summary tree: `TreeReader` (for retrieval, the corpus view and citations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.store import nodes as nodes_rows
from engine.store.db import ProjectStore
from engine.types import SummaryNode

__all__ = ["TreeReader"]


@dataclass
class TreeReader:
    """Read access to a project's tree (for retrieval, the corpus view and citations)."""

    store: ProjectStore
    _cache: dict[int, SummaryNode] = field(default_factory=dict)

    def node(self, node_id: int) -> SummaryNode:
        """The node with this id (KeyError if there is none, e.g. rewritten since)."""
        if node_id not in self._cache:
            found = nodes_rows.node(self.store, node_id)
            if found is None:
                raise KeyError(node_id)
            self._cache[node_id] = found
        return self._cache[node_id]

    def nodes(self, *, doc_id: str | None = None, level: int | None = None) -> list[SummaryNode]:
        return nodes_rows.nodes(self.store, doc_id=doc_id, level=level)

    def roots(self) -> list[SummaryNode]:
        """Document roots (one per document whose tree is complete), in document order."""
        return nodes_rows.document_roots(self.store)

    def corpus_root(self) -> SummaryNode | None:
        """The root over every document; with a single document, that document's root."""
        root = nodes_rows.corpus_root(self.store)
        if root is not None:
            return root
        roots = self.roots()
        return roots[0] if len(roots) == 1 else None

    def children(self, node: SummaryNode) -> list[SummaryNode]:
        if node.level == 1:
            return []
        return [self.node(int(c)) for c in node.child_ids]

    def top_levels(self, doc_id: str) -> list[SummaryNode]:
        """A document's nodes from the highest level present down (best overview first)."""
        nodes = self.nodes(doc_id=doc_id)
        return sorted(nodes, key=lambda n: (-n.level, n.chunk_start))

    def search(
        self, query: str, *, limit: int = 20, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[SummaryNode, float]]:
        """BM25 over node texts (the summaries themselves), optionally within documents."""
        return nodes_rows.search_nodes(self.store, query, limit=limit, doc_ids=doc_ids)
