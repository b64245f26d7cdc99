"""Full-text search helpers shared by every FTS5 query of the store: free text turned into a
safe FTS5 query, and the one builder of "only these documents" clauses."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["doc_scope", "fts_query"]

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str, *, mode: str = "or") -> str:
    """Turn free text into a safe FTS5 query: bare words, quoted, OR-ed (BM25 ranks by how
    many and how rare). User punctuation never reaches FTS5's query syntax."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]
    seen: dict[str, None] = {}
    for w in words:
        seen.setdefault(w, None)
    joiner = " OR " if mode == "or" else " "
    return joiner.join(f'"{w}"' for w in seen)


def doc_scope(column: str, doc_ids: Sequence[str] | None) -> tuple[str, list[str]]:
    """The SQL fragment (" AND <column> IN (?, …)") and its arguments that limit a query to
    the documents `doc_ids`; nothing when `doc_ids` is None (every document)."""
    if doc_ids is None:
        return "", []
    ids = list(doc_ids)
    return f" AND {column} IN ({','.join('?' * len(ids))})", ids
