"""Summary-tree rows (`nodes`, with `nodes_fts`): what the tree is planned from, the nodes that
exist, writing one node, and every read of the tree (by id, level, document, roots, and BM25
search over the summaries' text).

Node keys are (doc_id, level, ordinal); doc_id is '' for corpus nodes over several documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.store.codec import (
    LOCATOR_COLS,
    NODE_COLS,
    locator_from_columns,
    locator_values,
    node_from_row,
    qualified,
)
from engine.store.fts import doc_scope, fts_query
from engine.types import SummaryNode
from ingest.types import Locator

if TYPE_CHECKING:
    from engine.store.db import ProjectStore

__all__ = [
    "ChunkSpanRow",
    "ExistingNode",
    "NodeKey",
    "NodeRow",
    "chunk_bodies",
    "chunk_spans",
    "corpus_root",
    "delete_nodes",
    "document_roots",
    "existing_nodes",
    "levels",
    "node",
    "node_made_by",
    "nodes",
    "search_nodes",
    "write_node",
]

NodeKey = tuple[str, int, int]  # (doc_id, level, ordinal)


# ---------------------------------------------------------------------------------- plan inputs
@dataclass(frozen=True, slots=True)
class ChunkSpanRow:
    """What the tree plan needs of one chunk: its id, place and size (not its text)."""

    id: str
    doc_id: str
    ordinal: int
    n_tokens: int
    locator: Locator  # with the heading path


def chunk_spans(store: ProjectStore) -> Iterator[ChunkSpanRow]:
    """Every chunk, documents in the order they were added, chunks in order."""
    cols = ", ".join(f"c.{c}" for c in LOCATOR_COLS)
    for cid, doc_id, ordinal, n_tokens, heading, *span in store.db.execute(
        f"SELECT c.id, c.doc_id, c.ordinal, c.n_tokens, c.heading_path, {cols} FROM chunks c "
        "JOIN documents d ON d.id = c.doc_id ORDER BY d.added_at, d.name, c.doc_id, c.ordinal"
    ):
        yield ChunkSpanRow(
            cid, doc_id, ordinal, n_tokens, locator_from_columns(doc_id, span, heading)
        )


def chunk_bodies(store: ProjectStore, ids: Sequence[str]) -> list[str]:
    """Chunk texts without their overlap prefix (a summary should not read text twice), in
    the order of `ids` ('' for an id that is gone)."""
    marks = ",".join("?" * len(ids))
    rows = {
        cid: text[overlap:]
        for cid, text, overlap in store.db.execute(
            f"SELECT id, text, overlap FROM chunks WHERE id IN ({marks})", list(ids)
        )
    }
    return [rows.get(i, "") for i in ids]


# ---------------------------------------------------------------------------------- writes
@dataclass
class ExistingNode:
    """A stored node, as much as the build needs to decide whether it is still current."""

    id: int
    children_hash: str
    made_by: str
    text: str


def existing_nodes(store: ProjectStore) -> dict[NodeKey, ExistingNode]:
    rows = store.db.execute(
        "SELECT id, doc_id, level, ordinal, children_hash, made_by, text FROM nodes"
    ).fetchall()
    return {(d, lv, o): ExistingNode(i, ch, mb, t) for i, d, lv, o, ch, mb, t in rows}


def node_made_by(store: ProjectStore) -> dict[NodeKey, str]:
    """Each stored node's key and `made_by`, without its text (cheap: a status check)."""
    rows = store.db.execute("SELECT doc_id, level, ordinal, made_by FROM nodes")
    return {(d, lv, o): mb for d, lv, o, mb in rows}


def delete_nodes(store: ProjectStore, ids: Sequence[int]) -> None:
    """Delete these nodes, in one transaction."""
    with store.transaction():
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            store.db.execute(f"DELETE FROM nodes WHERE id IN ({','.join('?' * len(part))})", part)


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One node to write."""

    doc_id: str
    level: int
    ordinal: int
    chunk_start: int
    chunk_end: int
    locator: Locator
    is_root: bool
    child_ids: Sequence[str]
    children_hash: str
    text: str
    n_tokens: int
    made_by: str


_NODE_WRITE_COLS = (
    "doc_id, level, ordinal, chunk_start, chunk_end, child_ids, children_hash, text, "
    f"n_tokens, made_by, {', '.join(LOCATOR_COLS)}, is_root, created_at"
)


def write_node(store: ProjectStore, row: NodeRow, *, replaces: int | None = None) -> int:
    """Write one node in its own transaction; returns its id. `replaces` is the id of the
    stored node it rebuilds: the new row keeps that id (vectors and links find it again)."""
    values = [
        row.doc_id,
        row.level,
        row.ordinal,
        row.chunk_start,
        row.chunk_end,
        json.dumps(list(row.child_ids)),
        row.children_hash,
        row.text,
        row.n_tokens,
        row.made_by,
        *locator_values(row.locator),
        int(row.is_root),
        datetime.now(UTC).isoformat(timespec="seconds"),
    ]
    marks = ",".join("?" * len(values))
    with store.transaction():
        if replaces is not None:
            store.db.execute("DELETE FROM nodes WHERE id = ?", [replaces])
            cur = store.db.execute(
                f"INSERT INTO nodes (id, {_NODE_WRITE_COLS}) VALUES (?, {marks})",
                [replaces, *values],
            )
        else:
            cur = store.db.execute(
                f"INSERT INTO nodes ({_NODE_WRITE_COLS}) VALUES ({marks})", values
            )
    return int(cur.lastrowid or 0)


# ---------------------------------------------------------------------------------- reads
def levels(store: ProjectStore) -> tuple[int, ...]:
    """The levels that have at least one node, lowest first."""
    return tuple(sorted(lv for (lv,) in store.db.execute("SELECT DISTINCT level FROM nodes")))


def node(store: ProjectStore, node_id: int) -> SummaryNode | None:
    row = store.db.execute(f"SELECT {NODE_COLS} FROM nodes WHERE id = ?", [node_id]).fetchone()
    return node_from_row(row) if row is not None else None


def nodes(
    store: ProjectStore, *, doc_id: str | None = None, level: int | None = None
) -> list[SummaryNode]:
    """Nodes (of one document, one level, or both), by level, document and position."""
    sql = f"SELECT {NODE_COLS} FROM nodes WHERE 1=1"
    args: list[object] = []
    if doc_id is not None:
        sql += " AND doc_id = ?"
        args.append(doc_id)
    if level is not None:
        sql += " AND level = ?"
        args.append(level)
    rows = store.db.execute(sql + " ORDER BY level, doc_id, ordinal", args)
    return [node_from_row(r) for r in rows]


def document_roots(store: ProjectStore) -> list[SummaryNode]:
    """Document roots (one per document whose tree is complete), in document order."""
    rows = store.db.execute(
        f"SELECT {qualified(NODE_COLS, 'n')} FROM nodes n "
        "JOIN documents d ON d.id = n.doc_id WHERE n.is_root = 1 ORDER BY d.added_at, d.name"
    ).fetchall()
    return [node_from_row(r) for r in rows]


def corpus_root(store: ProjectStore) -> SummaryNode | None:
    """The root over several documents, if the tree has one."""
    row = store.db.execute(
        f"SELECT {NODE_COLS} FROM nodes WHERE doc_id = '' AND is_root = 1"
    ).fetchone()
    return node_from_row(row) if row is not None else None


def search_nodes(
    store: ProjectStore, query: str, *, limit: int = 20, doc_ids: Sequence[str] | None = None
) -> list[tuple[SummaryNode, float]]:
    """BM25 (FTS5) over the summaries' text, best first, optionally within documents."""
    q = fts_query(query)
    if not q:
        return []
    scope, args = doc_scope("n.doc_id", doc_ids)
    rows = store.db.execute(
        f"SELECT {qualified(NODE_COLS, 'n')}, -bm25(nodes_fts) FROM nodes_fts "
        "JOIN nodes n ON n.id = nodes_fts.rowid "
        f"WHERE nodes_fts MATCH ?{scope} ORDER BY bm25(nodes_fts) LIMIT ?",
        [q, *args, limit],
    ).fetchall()
    return [(node_from_row(r[:-1]), float(r[-1])) for r in rows]
