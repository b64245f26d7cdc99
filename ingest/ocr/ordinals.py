"""Chunk ordinals for documents with scanned pages: OCR'd text joins the document later, in
reading order, without changing any chunk that exists.

Chunk ids are `doc sha256[:16]:ordinal`; embeddings are keyed by chunk id and assume its text
never changes; the summary tree groups chunks by ordinal, and retrieval expands a tree node
into the chunks whose ordinals lie in its span. So ordinal order must be reading order, and
a chunk, once written, is never renumbered or rewritten. Hence, at ingest:

- the blocks are cut into *runs* at every page that needs OCR; each run is chunked on its own
  (a chunk never spans a scanned page, and has no overlap into it);
- each page that needs OCR reserves `OCR_ORDINALS` ordinals where it stands: the run after
  it starts that many ordinals later. When the page is read, its chunks take the reserved
  ordinals, so they sort between the chunks of the pages around it.

Nothing about the reservation needs storing: the first reserved ordinal of a scanned page is
`first_ocr_ordinal(...)` of what the store already holds (how many scanned pages and how many
text-layer chunks come before it). Ordinals are therefore sparse in such documents, never
dense-assumed: a span of a node covers the chunks that exist in it. A document without
scanned pages is chunked exactly as before, with ordinals 0, 1, 2, ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Final

from ingest.chunking import DEFAULT_SETTINGS, ChunkSettings, Segment, chunk_blocks_with_segments
from ingest.tokens import Tokenizer
from ingest.types import Block, Chunk

__all__ = ["OCR_ORDINALS", "chunk_around_scans", "first_ocr_ordinal"]

#: Ordinals reserved for the OCR'd chunks of one page (a page's text never fills them: a
#: thousand of the smallest chunks is 64,000 tokens).
OCR_ORDINALS: Final = 1000


def first_ocr_ordinal(scanned_before: int, text_chunks_before: int) -> int:
    """The first ordinal reserved for a scanned page, given how many scanned pages come before
    it in the document and how many chunks of text-layer pages do."""
    return scanned_before * OCR_ORDINALS + text_chunks_before


def _run(blocks: Iterator[Block], first: Block, pending: list[Block]) -> Iterator[Block]:
    """`first`, then blocks up to (not including) the next one that needs OCR, which is left
    in `pending`."""
    yield first
    for block in blocks:
        if block.needs_ocr:
            pending.append(block)
            return
        yield block


def chunk_around_scans(
    blocks: Iterable[Block],
    *,
    doc_id: str,
    settings: ChunkSettings = DEFAULT_SETTINGS,
    tokenizer: Tokenizer | None = None,
    seen: list[Block] | None = None,
) -> Iterator[tuple[Chunk, tuple[Segment, ...]]]:
    """`chunk_blocks_with_segments` for a document that may have pages needing OCR (see the
    module docstring); streamed. Every block read is appended to `seen` when given."""

    def tee(source: Iterable[Block]) -> Iterator[Block]:
        for block in source:
            if seen is not None:
                seen.append(block)
            yield block

    stream = tee(blocks)
    next_ordinal = 0
    chars = 0
    pending: list[Block] = []
    while True:
        block = pending.pop() if pending else next(stream, None)
        if block is None:
            return
        if block.needs_ocr:
            next_ordinal += OCR_ORDINALS
            continue
        count = run_chars = 0
        for chunk, segments in chunk_blocks_with_segments(
            _run(stream, block, pending), doc_id=doc_id, settings=settings, tokenizer=tokenizer
        ):
            count += 1
            run_chars = chunk.char_start + len(chunk.text) - chunk.overlap
            if next_ordinal or chars:
                chunk = dataclasses.replace(
                    chunk, ordinal=chunk.ordinal + next_ordinal, char_start=chunk.char_start + chars
                )
            yield chunk, segments
        next_ordinal += count
        chars += run_chars
