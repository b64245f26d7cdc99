"""Prepare one source for writing: read, hash, chunk and tokenize it, with no database in sight.

    prepared = prepare(source, chunking=ChunkSettings(), spool_dir=folder)
    if isinstance(prepared, PreparedDocument):
        for part in prepared.parts():   # blocks and chunks, at most PART_ROWS of each
            ...write them...
        prepared.discard()              # removes the spool file, if there is one

All the slow work of ingest happens here, so that the write transaction that stores the result
only copies rows (issue 12: parsing inside the transaction held the project's write lock for
minutes). Everything a call takes and returns pickles, so it runs as well in a process-pool
worker as in the ingesting process, with the same result: the document, its blocks and chunks
(ids, texts, token counts, locators, segments) do not depend on where they were made.

Memory stays bounded for huge documents (a 200 MB text file, a 2,415-page PDF): the reader and
chunker stream, and once a document's prepared text passes `inline_chars` its parts go to a
spool file (pickled parts, in `spool_dir`) instead of memory. The writer then stores a spooled
document part by part, in several short transactions (see `engine.intake`).

Never raises for a bad file: the result is then a `PrepareFailed` naming the reason.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Final

from ingest.chunking import ChunkSettings, dump_segments
from ingest.errors import IngestError
from ingest.ocr.ordinals import chunk_around_scans
from ingest.readers import DEFAULT_MAX_PAGES, PdfEngine, read
from ingest.tokens import Tokenizer, cl100k
from ingest.types import Block, Chunk, Document, Source

__all__ = [
    "INLINE_CHARS",
    "PART_ROWS",
    "AlreadyStored",
    "PrepareFailed",
    "Prepared",
    "PreparedDocument",
    "PreparedPart",
    "prepare",
]

#: Most blocks, and most chunks, in one part (one batch of rows for the writer).
PART_ROWS: Final = 256
#: Prepared text (blocks plus chunks, in characters) held in memory before spooling to disk.
INLINE_CHARS: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PreparedPart:
    """A run of a document's blocks and chunks (each chunk with its segments JSON)."""

    blocks: tuple[Block, ...]
    chunks: tuple[tuple[Chunk, str], ...]


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A document read and chunked, ready to write.

    `document` is the reader's Document with its (consumed) blocks replaced by `()`. The
    parts are held in `inline`, or, for a big document, in the spool file `spool`: iterate
    `parts()` once either way, and call `discard()` when done with the document.
    `n_pages` and `ocr_pages` are what the project records for the document.
    """

    document: Document
    n_blocks: int
    n_chunks: int
    n_tokens: int
    n_pages: int | None
    ocr_pages: tuple[int, ...]
    fingerprint: str
    seconds: float
    inline: tuple[PreparedPart, ...] = ()
    spool: str | None = None

    @property
    def name(self) -> str:
        return self.document.name

    def parts(self) -> Iterator[PreparedPart]:
        """The blocks and chunks in order, part by part (read back from the spool if any)."""
        if self.spool is None:
            yield from self.inline
            return
        with open(self.spool, "rb") as fh:
            while True:
                try:
                    part = pickle.load(fh)
                except EOFError:
                    return
                yield part

    def discard(self) -> None:
        """Remove the spool file (a no-op for an in-memory document)."""
        if self.spool is not None:
            Path(self.spool).unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class AlreadyStored:
    """The source's bytes are already in the project (found by hash): nothing was chunked."""

    name: str
    doc_id: str
    fingerprint: str
    seconds: float


@dataclass(frozen=True, slots=True)
class PrepareFailed:
    """The source could not be read. `unexpected` marks a reader bug (`detail` has the trace)."""

    name: str
    reason: str
    seconds: float
    unexpected: bool = False
    detail: str = ""


#: What `prepare` returns.
Prepared = PreparedDocument | AlreadyStored | PrepareFailed


class _Parts:
    """Collects a document's blocks and chunks into parts, in memory or in a spool file."""

    def __init__(self, spool_dir: Path | None, inline_chars: int) -> None:
        self._spool_dir = spool_dir
        self._inline_chars = inline_chars
        self._held: list[PreparedPart] = []
        self._chars = 0
        self._spool_path: str | None = None
        self._spool: BinaryIO | None = None
        self.blocks: list[Block] = []  # the part being filled
        self.chunks: list[tuple[Chunk, str]] = []
        self.max_page = 0
        self.ocr_pages: list[int] = []
        self.n_blocks = 0

    def add_block(self, block: Block) -> None:
        page = block.locator.page
        if page:
            self.max_page = max(self.max_page, page)
            if block.needs_ocr:
                self.ocr_pages.append(page)
        self.blocks.append(block)
        self.n_blocks += 1
        self._chars += len(block.text)

    def add_chunk(self, chunk: Chunk, segments: str) -> None:
        self.chunks.append((chunk, segments))
        self._chars += len(chunk.text)
        if len(self.chunks) >= PART_ROWS or len(self.blocks) >= PART_ROWS:
            self.cut()

    def cut(self) -> None:
        if not self.blocks and not self.chunks:
            return
        part = PreparedPart(tuple(self.blocks), tuple(self.chunks))
        self.blocks, self.chunks = [], []
        if self._spool is None and self._chars > self._inline_chars:
            self._open_spool()
        if self._spool is None:
            self._held.append(part)
        else:
            pickle.dump(part, self._spool, protocol=pickle.HIGHEST_PROTOCOL)

    def _open_spool(self) -> None:
        # mkstemp creates the file 0600: document text never lands world-readable.
        fd, path = tempfile.mkstemp(prefix="tomes-spool-", suffix=".parts", dir=self._spool_dir)
        self._spool_path, self._spool = path, os.fdopen(fd, "wb")
        for held in self._held:
            pickle.dump(held, self._spool, protocol=pickle.HIGHEST_PROTOCOL)
        self._held = []

    def finish(self) -> tuple[tuple[PreparedPart, ...], str | None]:
        self.cut()
        if self._spool is None:
            return tuple(self._held), None
        self._spool.close()
        return (), self._spool_path

    def abandon(self) -> None:
        if self._spool is not None:
            self._spool.close()
            Path(self._spool_path or "").unlink(missing_ok=True)
            self._spool = self._spool_path = None


def _tee(blocks: Iterator[Block] | tuple[Block, ...], parts: _Parts) -> Iterator[Block]:
    for block in blocks:
        parts.add_block(block)
        yield block


def prepare(
    source: Source,
    *,
    chunking: ChunkSettings,
    tokenizer: Tokenizer | None = None,
    is_stored: Callable[[str], bool] | None = None,
    spool_dir: Path | None = None,
    inline_chars: int = INLINE_CHARS,
    pdf_engine: PdfEngine = "pdfium",
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Prepared:
    """Read, chunk and tokenize one source (see the module docstring).

    `is_stored(doc_id)` is asked once the bytes are hashed: when it says yes, nothing is
    chunked and `AlreadyStored` comes back. Spool files go to `spool_dir` (default: the
    system temp folder). A PDF with more than `max_pages` pages fails (the setting
    `ingest.max_pages`: a small file can declare millions of pages).
    """
    start = time.perf_counter()
    parts = _Parts(spool_dir, inline_chars)
    try:
        document = read(source, pdf_engine=pdf_engine, max_pages=max_pages)
        if is_stored is not None and is_stored(document.id):
            return AlreadyStored(
                source.name, document.id, source.fingerprint, time.perf_counter() - start
            )
        n_chunks = n_tokens = 0
        # Scanned pages reserve chunk ordinals where they stand, for their OCR text later.
        for chunk, segments in chunk_around_scans(
            _tee(iter(document.blocks), parts),
            doc_id=document.id,
            settings=chunking,
            tokenizer=tokenizer or cl100k(),
        ):
            parts.add_chunk(chunk, dump_segments(segments))
            n_chunks += 1
            n_tokens += chunk.n_tokens
        inline, spool = parts.finish()
    except IngestError as exc:
        parts.abandon()
        return PrepareFailed(source.name, exc.reason, time.perf_counter() - start)
    except MemoryError:
        parts.abandon()
        return PrepareFailed(
            source.name, "ran out of memory reading this file", time.perf_counter() - start
        )
    except Exception as exc:  # a reader bug must not take the batch down
        parts.abandon()
        return PrepareFailed(
            source.name,
            f"unexpected error ({type(exc).__name__}: {exc}); please report it",
            time.perf_counter() - start,
            unexpected=True,
            detail=traceback.format_exc(),
        )
    n_pages = parts.max_page or None
    pages = document.meta.get("pages", "")
    if pages.isdigit():
        n_pages = int(pages)
    return PreparedDocument(
        document=replace(document, blocks=()),
        n_blocks=parts.n_blocks,
        n_chunks=n_chunks,
        n_tokens=n_tokens,
        n_pages=n_pages,
        ocr_pages=tuple(parts.ocr_pages),
        fingerprint=source.fingerprint,
        seconds=time.perf_counter() - start,
        inline=inline,
        spool=spool,
    )
