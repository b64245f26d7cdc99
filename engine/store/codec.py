"""The one row codec of the store: how a `Locator` is spread over table columns and read back,
and how chunk, block and summary-node rows become engine values.

Every table that stores a place in a document (`blocks`, `chunks`, `nodes`) uses the same
column names (page, page_end, line_start, line_end, paragraph, paragraph_end and, for
blocks and chunks, heading_path as JSON), so one pair of functions covers them all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.types import StoredChunk, SummaryNode
from ingest.types import Block, BlockKind, Chunk, Locator

__all__ = [
    "BLOCK_COLS",
    "CHUNK_COLS",
    "CHUNK_INSERT_COLS",
    "LOCATOR_COLS",
    "NODE_COLS",
    "block_from_row",
    "block_row",
    "chunk_from_row",
    "chunk_row",
    "locator_from_columns",
    "locator_values",
    "node_from_row",
]

#: The span columns, in order, shared by chunks and nodes.
LOCATOR_COLS = ("page", "page_end", "line_start", "line_end", "paragraph", "paragraph_end")


def locator_values(loc: Locator) -> tuple[int | None, ...]:
    """`loc` as the values of `LOCATOR_COLS`."""
    return (loc.page, loc.page_end, loc.line_start, loc.line_end, loc.paragraph, loc.paragraph_end)


def locator_from_columns(
    doc_id: str, span: Sequence[int | None], heading_json: str | None = None
) -> Locator:
    """A `Locator` from the values of `LOCATOR_COLS` (and a heading path stored as JSON)."""
    page, page_end, line_start, line_end, paragraph, paragraph_end = span
    return Locator(
        doc_id=doc_id,
        page=page,
        page_end=page_end,
        line_start=line_start,
        line_end=line_end,
        paragraph=paragraph,
        paragraph_end=paragraph_end,
        heading_path=tuple(json.loads(heading_json)) if heading_json else (),
    )


# ---------------------------------------------------------------------------------- chunks
#: A stored chunk with its document's name (`c` = chunks, `d` = documents).
CHUNK_COLS = (
    "c.id, c.rowid, c.doc_id, d.name, c.ordinal, c.text, c.n_tokens, c.overlap, c.page, "
    "c.page_end, c.line_start, c.line_end, c.paragraph, c.paragraph_end, c.heading_path, "
    "c.segments"
)
CHUNK_INSERT_COLS = (
    "id, doc_id, ordinal, text, n_tokens, overlap, char_start, page, page_end, line_start, "
    "line_end, paragraph, paragraph_end, heading_path, segments"
)


def chunk_from_row(row: Sequence[Any]) -> StoredChunk:
    """A `StoredChunk` from a row of `CHUNK_COLS`."""
    cid, rowid, doc_id, name, ordinal, text, n_tokens, overlap = row[:8]
    return StoredChunk(
        id=cid,
        rowid=rowid,
        doc_id=doc_id,
        document=name,
        ordinal=ordinal,
        text=text,
        n_tokens=n_tokens,
        overlap=overlap,
        locator=locator_from_columns(doc_id, row[8:14], row[14]),
        segments_json=row[15],
    )


def _heading_json(path: tuple[str, ...]) -> str:
    # Most blocks and chunks have no heading path: skip json.dumps (issue 14, ingest speed).
    return json.dumps(list(path)) if path else "[]"


def chunk_row(doc_id: str, chunk: Chunk, segments_json: str) -> tuple[Any, ...]:
    """The values of `CHUNK_INSERT_COLS` for one ingest chunk."""
    return (
        chunk.id,
        doc_id,
        chunk.ordinal,
        chunk.text,
        chunk.n_tokens,
        chunk.overlap,
        chunk.char_start,
        *locator_values(chunk.locator),
        _heading_json(chunk.locator.heading_path),
        segments_json,
    )


# ---------------------------------------------------------------------------------- blocks
BLOCK_COLS = "ordinal, kind, text, page, line_start, line_end, paragraph, heading_path, needs_ocr"
BLOCK_INSERT_COLS = (
    "doc_id, ordinal, kind, text, page, line_start, line_end, paragraph, heading_path, needs_ocr"
)


def block_row(doc_id: str, ordinal: int, block: Block) -> tuple[Any, ...]:
    """The values of `BLOCK_INSERT_COLS` for one block (blocks keep a start, not a span)."""
    loc = block.locator
    return (
        doc_id,
        ordinal,
        block.kind.value,
        block.text,
        loc.page,
        loc.line_start,
        loc.line_end,
        loc.paragraph,
        _heading_json(loc.heading_path),
        int(block.needs_ocr),
    )


def block_from_row(doc_id: str, row: Sequence[Any]) -> tuple[Block, int]:
    """(block, ordinal) from a row of `BLOCK_COLS`."""
    ordinal, kind, text, page, line_start, line_end, paragraph, heading, ocr = row
    loc = locator_from_columns(doc_id, (page, None, line_start, line_end, paragraph, None), heading)
    return Block(text, loc, BlockKind(kind), bool(ocr)), ordinal


# ---------------------------------------------------------------------------------- nodes
NODE_COLS = (
    "id, level, text, child_ids, doc_id, chunk_start, chunk_end, n_tokens, made_by, page, "
    "page_end, line_start, line_end, paragraph, paragraph_end, is_root"
)


def node_from_row(row: Sequence[Any]) -> SummaryNode:
    """A `SummaryNode` from a row of `NODE_COLS`."""
    nid, level, text, child_ids, doc_id, cs, ce, n_tokens, made_by = row[:9]
    return SummaryNode(
        id=nid,
        level=level,
        text=text,
        child_ids=tuple(str(c) for c in json.loads(child_ids)),
        doc_id=doc_id,
        chunk_start=cs,
        chunk_end=ce,
        n_tokens=n_tokens,
        made_by=made_by,
        locator=locator_from_columns(doc_id, row[9:15]),
        is_root=bool(row[15]),
    )


def qualified(cols: str, alias: str) -> str:
    """`cols` ("a, b") with each column prefixed by a table alias ("n.a, n.b")."""
    return ", ".join(f"{alias}.{c.strip()}" for c in cols.split(","))
